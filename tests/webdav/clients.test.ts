import { execFile, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { call, clientsFor, download, upload, type Clients } from "../support/clients.js";

/**
 * WebDAV through the edge (/dav/ → services/webdav → chunker and metadata
 * over gRPC), driven by real clients from Debian: the litmus conformance
 * suite, rclone's webdav backend and cadaver; plus what the issue asks of
 * authentication (Basic with an app password or a bearer JWT, 401 with
 * WWW-Authenticate, 429 for repeated failures without locking the real user
 * out) and of names (percent-encoding and UTF-8 both ways).
 */
const CFS = fileURLToPath(new URL("../../cli/bin/cfs", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { cwd: options.cwd, env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 300_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

let stack: RunningStack;
let dataDir: string;
let clients: Clients;
let dav: string;
const user = "dora";
let userToken: string;
let secret: string;

async function createAppPassword(token: string, label: string): Promise<{ secret: string; username: string }> {
  const response = await fetch(`${stack.edgeUrl}/v1/app-passwords`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ label }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { secret: string; username: string };
}

const basic = (name: string, password: string) => `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;

/** A WebDAV request through the edge, optionally from another loopback address. */
function davRequest(method: string, path: string, headers: Record<string, string>, options: { from?: string; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(path, stack.edgeUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method, headers, localAddress: options.from }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (p: Buffer) => parts.push(p));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

beforeAll(async () => {
  for (const binary of ["litmus", "rclone", "cadaver"]) {
    if (spawnSync("sh", ["-c", `command -v ${binary}`]).status !== 0) throw new Error(`${binary} is missing: run scripts/ensure-webdav-clients.sh`);
  }
  dataDir = await mkdtemp(join(tmpdir(), "cfs-webdav-"));
  // Small failed-login limits, so the test reaches them in a few requests.
  stack = await startStack({
    dataDir,
    defaultPorts: false,
    logs: "files",
    edge: {},
    env: { CFS_WEBDAV_LOGIN_FAILURES_PER_ADDRESS: "3", CFS_WEBDAV_LOGIN_FAILURES_PER_USER: "6", CFS_WEBDAV_LOGIN_WINDOW_SECONDS: "600" },
  });
  clients = clientsFor(stack.addresses);
  dav = `${stack.edgeUrl}/dav/`;
  userToken = await stack.issuer!.userToken(user);
  ({ secret } = await createAppPassword(userToken, "tests"));
}, 240_000);

afterAll(async () => {
  clients?.close();
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 60_000);

describe("WebDAV", () => {
  it("passes litmus: basic, copymove, props, locks and http with no failure", async () => {
    const mkcol = await davRequest("MKCOL", "/dav/litmus/", { authorization: basic(user, secret) });
    expect(mkcol.status).toBe(201);
    const litmusDir = join(dataDir, "litmus");
    await mkdir(litmusDir);
    const result = await run("litmus", [`${dav}litmus/`, user, secret], { cwd: litmusDir, timeoutMs: 600_000 });
    const summaries = [...result.stdout.matchAll(/<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/g)].map((m) => ({
      group: m[1],
      run: Number(m[2]),
      failed: Number(m[4]),
    }));
    const failures = result.stdout.split("\n").filter((line) => /FAIL|WARNING/.test(line));
    expect(summaries.map((s) => s.group)).toEqual(["basic", "copymove", "props", "locks", "http"]);
    expect(failures, result.stdout.slice(-4000)).toEqual([]);
    for (const s of summaries) {
      expect(s.failed, `${s.group} failures`).toBe(0);
      expect(s.run, `${s.group} ran its tests`).toBeGreaterThan(3);
    }
    expect(result.code).toBe(0);
  }, 600_000);

  it("syncs a tree of a few hundred files with rclone: check finds no difference, a change re-syncs only that file, and the CLI's upload is listed", async () => {
    const tree = join(dataDir, "tree");
    const files: string[] = [];
    for (let i = 0; i < 200; i++) {
      const dir = ["docs", "photos/2025", "photos/2026/übersicht", "code/src deep/nested", ""][i % 5]!;
      const name = join(dir, `file ${i}${i % 7 === 0 ? " ä€" : ""}.${["txt", "bin", "jpg"][i % 3]}`);
      // Mostly small, some of a few hundred KiB, two of several MiB.
      const size = i % 80 === 0 ? 2 * 1024 * 1024 + i : i % 10 === 0 ? 100 * 1024 + i : (i * 397) % 5000;
      await mkdir(dirname(join(tree, name)), { recursive: true });
      await writeFile(join(tree, name), randomBytes(size));
      files.push(name);
    }
    const obscured = (await run("rclone", ["obscure", secret])).stdout.trim();
    const env = {
      RCLONE_CONFIG_CFS_TYPE: "webdav",
      RCLONE_CONFIG_CFS_URL: dav,
      RCLONE_CONFIG_CFS_VENDOR: "other",
      RCLONE_CONFIG_CFS_USER: user,
      RCLONE_CONFIG_CFS_PASS: obscured,
      RCLONE_CONFIG: join(dataDir, "rclone.conf"),
    };
    const started = Date.now();
    const copy = await run("rclone", ["copy", tree, "cfs:tree", "--transfers", "4", "--checkers", "4"], { env });
    console.log(`rclone: copied ${files.length} files in ${Date.now() - started} ms`);
    expect(copy.code, copy.stderr).toBe(0);
    // Plain WebDAV has no hashes: --download compares the bytes themselves.
    const check = await run("rclone", ["check", tree, "cfs:tree", "--download"], { env });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).toMatch(new RegExp(`0 differences found`));
    expect(check.stderr).toMatch(new RegExp(`${files.length} matching files`));

    // One file changes (its size too: plain WebDAV compares sizes); only it travels.
    const changed = files[3]!;
    await writeFile(join(tree, changed), randomBytes(7777));
    const resync = await run("rclone", ["copy", tree, "cfs:tree", "-v", "--use-json-log"], { env });
    expect(resync.code, resync.stderr).toBe(0);
    const copied = resync.stderr
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg?: string; object?: string })
      .filter((l) => /^Copied/.test(l.msg ?? ""))
      .map((l) => l.object);
    expect(copied).toEqual([changed]);
    expect((await run("rclone", ["check", tree, "cfs:tree", "--download"], { env })).code).toBe(0);

    // What the CLI uploads over gRPC, rclone lists over WebDAV.
    const local = join(dataDir, "from-cli.txt");
    await writeFile(local, "uploaded by cfs put");
    const put = await run(CFS, ["put", local, "--name", "tree/from the CLI ✓.txt"], {
      env: { CFS_TOKEN: userToken, CFS_CHUNKER_ADDR: stack.addresses.chunker, CFS_METADATA_ADDR: stack.addresses.metadata },
    });
    expect(put.code, put.stderr).toBe(0);
    const listed = await run("rclone", ["lsf", "cfs:tree"], { env });
    expect(listed.stdout.split("\n")).toContain("from the CLI ✓.txt");
    expect((await run("rclone", ["cat", "cfs:tree/from the CLI ✓.txt"], { env })).stdout).toBe("uploaded by cfs put");
  }, 600_000);

  it("works from cadaver: put, get, mv, rm", async () => {
    const home = join(dataDir, "cadaver");
    await mkdir(home);
    await writeFile(join(home, ".netrc"), `machine 127.0.0.1 login ${user} password ${secret}\n`, { mode: 0o600 });
    await writeFile(join(home, "note.txt"), "written by cadaver\n");
    const script = ["mkcol cadaver-dir", "cd cadaver-dir", "put note.txt", "get note.txt back.txt", "move note.txt renamed.txt", "ls", "delete renamed.txt", "ls", "quit", ""].join("\n");
    const result = await run("cadaver", [dav], { cwd: home, env: { HOME: home }, input: script, timeoutMs: 120_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Uploading note\.txt to `\/dav\/cadaver-dir\/note\.txt': .*succeeded/);
    expect(result.stdout).toMatch(/Moving `\/dav\/cadaver-dir\/note\.txt' to `\/dav\/cadaver-dir\/renamed\.txt': +succeeded/);
    expect(result.stdout).toMatch(/Deleting `renamed\.txt': succeeded/);
    expect(result.stdout).not.toMatch(/failed/);
    expect(await readFile(join(home, "back.txt"), "utf8")).toBe("written by cadaver\n");
    // The empty folder is still there: folders made with MKCOL survive without files.
    const folder = await davRequest("PROPFIND", "/dav/cadaver-dir/", { authorization: basic(user, secret), depth: "0" });
    expect(folder.status).toBe(207);
    expect(folder.body).toContain("<D:collection/>");
  }, 180_000);

  it("encodes names both ways: a UTF-8 name with reserved characters, put over WebDAV, is the same name over gRPC, and back", async () => {
    const name = "naïve café/50% off #1 & more?.txt";
    const encoded = "/dav/" + name.split("/").map(encodeURIComponent).join("/");
    expect((await davRequest("MKCOL", `/dav/${encodeURIComponent("naïve café")}/`, { authorization: basic(user, secret) })).status).toBe(201);
    const put = await davRequest("PUT", encoded, { authorization: basic(user, secret), "content-type": "text/plain" }, { body: "encoded" });
    expect(put.status).toBe(201);
    const { files: listed } = await call(clients.metadata.listFiles, clients.metadata, { prefix: "naïve", pageSize: 10, pageToken: "" }, userToken);
    expect(listed.map((f) => f.name)).toEqual([name]);
    expect((await download(clients, userToken, listed[0]!.fileId)).data.toString()).toBe("encoded");
    const propfind = await davRequest("PROPFIND", `/dav/${encodeURIComponent("naïve café")}/`, { authorization: basic(user, secret), depth: "1" });
    expect(propfind.body).toContain(`<D:href>/dav/na%C3%AFve%20caf%C3%A9/50%25%20off%20%231%20%26%20more%3F.txt</D:href>`);
    // An NFD name (as macOS sends it) is the same file.
    const nfd = "/dav/" + name.normalize("NFD").split("/").map(encodeURIComponent).join("/");
    expect((await davRequest("GET", nfd, { authorization: basic(user, secret) })).body).toBe("encoded");
  });

  it("serves ranges, entity tags and HEAD like GET without a body", async () => {
    const data = randomBytes(300_000);
    const file = await upload(clients, userToken, data, { name: "ranges.bin" });
    const auth = { authorization: basic(user, secret) };
    const head = await davRequest("HEAD", "/dav/ranges.bin", auth);
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("300000");
    expect(head.body).toBe("");
    const etag = head.headers.etag as string;
    expect(etag).toBe(`"${Buffer.from(file.sha256, "hex").toString("base64url")}-1"`);
    const range = await new Promise<Buffer>((resolve, reject) => {
      const req = request(`${stack.edgeUrl}/dav/ranges.bin`, { headers: { ...auth, range: "bytes=1000-1999" } }, (res) => {
        expect(res.statusCode).toBe(206);
        expect(res.headers["content-range"]).toBe("bytes 1000-1999/300000");
        const parts: Buffer[] = [];
        res.on("data", (p: Buffer) => parts.push(p));
        res.on("end", () => resolve(Buffer.concat(parts)));
      });
      req.on("error", reject);
      req.end();
    });
    expect(createHash("sha256").update(range).digest("hex")).toBe(createHash("sha256").update(data.subarray(1000, 2000)).digest("hex"));
    expect((await davRequest("GET", "/dav/ranges.bin", { ...auth, "if-none-match": etag })).status).toBe(304);
    expect((await davRequest("GET", "/dav/ranges.bin", { ...auth, "if-match": '"other"' })).status).toBe(412);
    expect((await davRequest("GET", "/dav/ranges.bin", { ...auth, range: "bytes=400000-" })).status).toBe(416);
    expect((await davRequest("PUT", "/dav/ranges.bin", { ...auth, "if-match": '"stale-1"' }, { body: "x" })).status).toBe(412);
    expect((await davRequest("PUT", "/dav/no-parent/x.txt", auth, { body: "x" })).status).toBe(409);
  });

  it("moves with MoveFile (the file keeps its id and versions), deletes to the trash, reports the quota and answers 507 past it", async () => {
    const quotaUser = "quincy";
    const token = await stack.issuer!.userToken(quotaUser);
    const auth = { authorization: `Bearer ${token}` };
    expect((await davRequest("MKCOL", "/dav/docs/", auth)).status).toBe(201);
    expect((await davRequest("PUT", "/dav/docs/a.txt", auth, { body: "first" })).status).toBe(201);
    expect((await davRequest("PUT", "/dav/docs/a.txt", auth, { body: "second" })).status).toBe(204);
    const [before] = (await call(clients.metadata.listFiles, clients.metadata, { prefix: "docs/", pageSize: 10, pageToken: "" }, token)).files;

    // A folder move renames every file under it: same id, same versions, no new content.
    expect((await davRequest("MOVE", "/dav/docs/", { ...auth, destination: `${stack.edgeUrl}/dav/papers/` })).status).toBe(201);
    const { files: moved } = await call(clients.metadata.listFiles, clients.metadata, { prefix: "", pageSize: 10, pageToken: "" }, token);
    expect(moved.map((f) => [f.name, f.fileId, f.version])).toEqual([["papers/a.txt", before!.fileId, 2]]);
    expect((await davRequest("GET", "/dav/papers/a.txt", auth)).body).toBe("second");

    // Quota properties, asked for by name (never in allprop); unlimited: no quota-available-bytes.
    const quotaProps = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-used-bytes/><D:quota-available-bytes/></D:prop></D:propfind>';
    const unlimited = await davRequest("PROPFIND", "/dav/", { ...auth, depth: "0", "content-type": "application/xml" }, { body: quotaProps });
    expect(unlimited.status).toBe(207);
    expect(unlimited.body).toContain("<D:quota-used-bytes>6</D:quota-used-bytes>");
    expect(unlimited.body).toMatch(/<D:prop><D:quota-available-bytes\/><\/D:prop><D:status>HTTP\/1.1 404 Not Found/);
    expect((await davRequest("PROPFIND", "/dav/", { ...auth, depth: "0" })).body).not.toContain("quota-");

    // An operator sets a quota (service identity only); PROPFIND shows what is left, and a PUT past it is 507, committing nothing.
    const granted = await fetch(stack.issuer!.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "client_credentials", client_id: "cfs-services", client_secret: "dev-service-secret" }),
    });
    const { access_token: serviceToken } = (await granted.json()) as { access_token: string };
    await call(clients.metadata.setQuota, clients.metadata, { owner: quotaUser, quotaBytes: 100 }, serviceToken);
    const limited = await davRequest("PROPFIND", "/dav/papers/", { ...auth, depth: "0", "content-type": "application/xml" }, { body: quotaProps });
    expect(limited.body).toContain("<D:quota-available-bytes>94</D:quota-available-bytes>");
    expect((await davRequest("PUT", "/dav/papers/big.bin", auth, { body: "x".repeat(200) })).status).toBe(507);
    expect((await davRequest("PUT", "/dav/papers/small.txt", auth, { body: "fits" })).status).toBe(201);

    // DELETE goes to the trash: gone from listings, back with UndeleteFile.
    expect((await davRequest("DELETE", "/dav/papers/a.txt", auth)).status).toBe(204);
    expect((await davRequest("GET", "/dav/papers/a.txt", auth)).status).toBe(404);
    const { files: trashed } = await call(clients.metadata.listTrash, clients.metadata, { pageSize: 10, pageToken: "" }, token);
    expect(trashed.map((f) => f.fileId)).toEqual([before!.fileId]);
    await call(clients.metadata.undeleteFile, clients.metadata, { fileId: before!.fileId }, token);
    expect((await davRequest("GET", "/dav/papers/a.txt", auth)).body).toBe("second");
  });

  it("accepts a bearer JWT and Basic with an app password only: a wrong one is a 401 that asks for Basic", async () => {
    expect((await davRequest("PROPFIND", "/dav/", { authorization: `Bearer ${userToken}`, depth: "0" })).status).toBe(207);
    for (const authorization of [undefined, basic(user, "wrong"), basic("nobody", secret), "Bearer not.a.jwt", `Digest username="${user}"`]) {
      const answer = await davRequest("PROPFIND", "/dav/", { ...(authorization ? { authorization } : {}), depth: "0" });
      expect(answer.status, authorization).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe('Basic realm="cfs", charset="UTF-8"');
    }
    // Another user's app password opens that user's files, never these.
    const other = await stack.issuer!.userToken("eric");
    const theirs = await createAppPassword(other, "eric's");
    const answer = await davRequest("PROPFIND", "/dav/", { authorization: basic("eric", theirs.secret), depth: "1" });
    expect(answer.status).toBe(207);
    expect(answer.body).not.toContain("ranges.bin");
  });

  it("rate-limits repeated failures per user and address with 429, without locking out the real user's sessions or other addresses", async () => {
    const victim = "fiona";
    const token = await stack.issuer!.userToken(victim);
    const { secret: real } = await createAppPassword(token, "fiona's laptop");
    // The real user's client is signed in already.
    expect((await davRequest("PROPFIND", "/dav/", { authorization: basic(victim, real), depth: "0" })).status).toBe(207);
    // Guesses from 127.0.0.2: after 3 failures that address waits, even with the right password.
    for (let i = 0; i < 3; i++) expect((await davRequest("PROPFIND", "/dav/", { authorization: basic(victim, `guess-${i}`), depth: "0" }, { from: "127.0.0.2" })).status).toBe(401);
    const limited = await davRequest("PROPFIND", "/dav/", { authorization: basic(victim, "guess-x"), depth: "0" }, { from: "127.0.0.2" });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect((await davRequest("PROPFIND", "/dav/", { authorization: basic(victim, real), depth: "0" }, { from: "127.0.0.2" })).status).toBe(207);
    // ↑ a session already verified goes on; a new login from another address is not held up by 127.0.0.2's guesses.
    const { secret: phone } = await createAppPassword(token, "fiona's phone");
    expect((await davRequest("PROPFIND", "/dav/", { authorization: basic(victim, phone), depth: "0" }, { from: "127.0.0.3" })).status).toBe(207);
    // Guesses from many addresses: the user's limit (6) holds new logins up for a while, not for ever.
    for (const from of ["127.0.0.4", "127.0.0.5", "127.0.0.6"]) {
      expect((await davRequest("PROPFIND", "/dav/", { authorization: basic(victim, "guess"), depth: "0" }, { from })).status).toBe(401);
    }
    const { secret: tablet } = await createAppPassword(token, "fiona's tablet");
    expect((await davRequest("PROPFIND", "/dav/", { authorization: basic(victim, tablet), depth: "0" }, { from: "127.0.0.7" })).status).toBe(429);
    expect((await davRequest("PROPFIND", "/dav/", { authorization: basic(victim, real), depth: "0" })).status).toBe(207);
  });
});
