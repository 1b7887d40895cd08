import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeJwt } from "jose";
import { createServiceTokenSource } from "#lib/auth.js";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { call, clientsFor } from "../support/clients.js";

// `cfs sync` mirroring two folders of one user through the real services.
const CFS = fileURLToPath(new URL("../../cli/bin/cfs", import.meta.url));
let stack: RunningStack;
let dir: string;
let env: NodeJS.ProcessEnv;
let A: string;
let B: string;
const running: ChildProcess[] = [];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cfs(args: string[], extraEnv: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(CFS, args, { cwd: dir, env: { ...env, ...extraEnv }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** A running `cfs sync <folder>` whose output lines can be awaited. */
function follow(folder: string) {
  const child = spawn(CFS, ["sync", folder], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    output: () => output,
    async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
      await waitUntil(() => pattern.test(output), timeoutMs, () => `${pattern} in the output of cfs sync ${folder}:\n${output}`);
    },
    async stop(): Promise<number | null> {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Relative path -> content of every file under root, the state directory excepted. */
async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.name === ".cfs-sync") continue;
      if (entry.isDirectory()) await walk(path);
      else out[relative(root, path)] = (await readFile(path)).toString("base64");
    }
  };
  await walk(root);
  return out;
}

const text = async (path: string) => readFile(path, "utf8").catch(() => undefined);

async function write(path: string, content: string | Buffer): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, content);
}

/** The file counts of the UploadFiles calls the chunker committed, from its JSON log, in order. */
async function committedBatches(log: string): Promise<number[]> {
  const lines = (await readFile(log, "utf8").catch(() => "")).split("\n").filter((line) => line.includes('"batch committed"'));
  return lines.map((line) => (JSON.parse(line) as { files: number }).files);
}

async function once(folder: string): Promise<string> {
  const r = await cfs(["sync", folder, "--once"]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cfs-cli-sync-"));
  stack = await startStack({ dataDir: join(dir, "data"), defaultPorts: false, logs: "files", env: { CFS_OUTBOX_INTERVAL_MS: "100" } });
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CFS_CHUNKER_ADDR: stack.addresses.chunker,
    CFS_METADATA_ADDR: stack.addresses.metadata,
    CFS_SYNC_ADDR: stack.addresses.sync,
    CFS_TOKEN: await stack.issuer!.userToken("dana"),
  };
  A = join(dir, "A");
  B = join(dir, "B");
});

/** A test that failed with a `cfs sync` still running must not leave it holding its folder for the next. */
async function stopLeftRunning(): Promise<void> {
  const left = running.filter((child) => child.exitCode === null && child.signalCode === null);
  await Promise.all(left.map((child) => new Promise((resolve) => child.once("exit", resolve).kill("SIGKILL"))));
}

afterEach(stopLeftRunning);

afterAll(async () => {
  await stopLeftRunning();
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("cfs sync", () => {
  it("converges two folders after adds, edits and deletes on both sides, keeping both sides of a conflict", async () => {
    const big = randomBytes(2 * 1024 * 1024 + 5);
    await write(join(A, "a.txt"), "alpha");
    await write(join(A, "docs", "b.txt"), "beta");
    await write(join(A, "docs", "deep", "c.bin"), big);

    expect(await once(A)).toMatch(/uploaded docs\/deep\/c\.bin \(2\.0 MiB, version 1\)/);
    const first = await once(B);
    expect(first.match(/^downloaded /gm)).toHaveLength(3);
    expect(await tree(B)).toEqual(await tree(A));
    // Nothing changed: nothing moves.
    expect(await once(B)).toBe("");
    expect(await once(A)).toBe("");

    await write(join(A, "a.txt"), "alpha 2");
    await write(join(A, "d.txt"), "delta");
    await rm(join(B, "docs", "b.txt"));
    await write(join(B, "e.txt"), "epsilon");
    await once(A);
    const fromB = await once(B);
    expect(fromB).toMatch(/^deleted docs\/b\.txt on the server/m);
    expect(fromB).toMatch(/^uploaded e\.txt/m);
    expect(fromB).toMatch(/^downloaded a\.txt .*version 2/m);
    expect(await once(A)).toMatch(/^deleted docs\/b\.txt \(deleted on the server\)/m);
    expect(await tree(A)).toEqual(await tree(B));
    expect(Object.keys(await tree(A)).sort()).toEqual(["a.txt", "d.txt", "docs/deep/c.bin", "e.txt"]);
    expect(await text(join(A, "a.txt"))).toBe("alpha 2");

    // Both sides edit a.txt.
    await write(join(A, "a.txt"), "from A");
    await write(join(B, "a.txt"), "from B, longer");
    await once(A);
    const conflict = await once(B);
    expect(conflict).toMatch(/^conflict a\.txt: changed on both sides/m);
    const copy = /"(a \(conflicted copy \d{4}-\d\d-\d\d \d{6}\)\.txt)"/.exec(conflict)?.[1];
    expect(copy).toBeDefined();
    expect(await text(join(B, "a.txt"))).toBe("from A");
    expect(await text(join(B, copy!))).toBe("from B, longer");
    await once(A);
    expect(await text(join(A, copy!))).toBe("from B, longer");
    expect(await tree(A)).toEqual(await tree(B));

    // The state directory never leaves the machine.
    const ls = await cfs(["ls", "--all", "--json"]);
    expect(ls.stdout).not.toContain(".cfs-sync");
  });

  it("sends a first sync of many small files in few UploadFiles calls, each file its own version", async () => {
    const C = join(dir, "C");
    const D = join(dir, "D");
    const count = 230;
    for (let i = 0; i < count; i++) await write(join(C, "many", `${String(i).padStart(3, "0")}.txt`), `small file ${i} ${randomBytes(8).toString("hex")}`);
    await write(join(C, "many", "big.bin"), randomBytes(2 * 1024 * 1024));
    const batched = () => committedBatches(join(dir, "data", "logs", "chunker.log"));
    const before = (await batched()).length;

    const out = await once(C);
    expect(out.match(/^uploaded many\/\d{3}\.txt \(.*, version 1\)$/gm)).toHaveLength(count);
    expect(out).toMatch(/^uploaded many\/big\.bin /m);
    // 230 files below one chunk: batches of 100, in order.
    expect((await batched()).slice(before)).toEqual([100, 100, 30]);
    expect(await once(C)).toBe("");

    // A new folder gets them all (both also hold the earlier test's files, the same user's).
    const fetched = await once(D);
    expect(fetched.match(/^downloaded many\//gm)).toHaveLength(count + 1);
    const inMany = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).filter(([path]) => path.startsWith("many/")));
    expect(inMany(await tree(D))).toEqual(inMany(await tree(C)));
    expect(Object.keys(inMany(await tree(D)))).toHaveLength(count + 1);
  });

  it("retries a batch the server refuses file by file, so a file over the quota holds back no other", async () => {
    const E = join(dir, "E");
    const token = await stack.issuer!.userToken("erin");
    const service = createServiceTokenSource({ tokenUrl: stack.issuer!.tokenUrl, clientId: "cfs-services", clientSecret: "dev-service-secret", audience: stack.audience });
    const clients = clientsFor(stack.addresses);
    const setQuota = async (quotaBytes: number) => call(clients.metadata.setQuota, clients.metadata, { owner: decodeJwt(token).sub!, quotaBytes }, await service());
    try {
      // 12 files of 1000 bytes, 10 500 bytes of quota: the batch of all 12 is refused whole; file by file, 10 fit.
      await setQuota(10_500);
      for (let i = 0; i < 12; i++) await write(join(E, `q${String(i).padStart(2, "0")}.bin`), randomBytes(1000));
      const batched = () => committedBatches(join(dir, "data", "logs", "chunker.log"));
      const before = (await batched()).length;
      const first = await cfs(["sync", E, "--once"], { CFS_TOKEN: token });
      expect(first.stdout.match(/^uploaded q\d\d\.bin \(.*, version 1\)$/gm), first.stderr).toHaveLength(10);
      const refused = [...first.stderr.matchAll(/^cfs sync: (q\d\d\.bin): .*quota/gm)].map((m) => m[1]!);
      expect(refused, first.stderr).toHaveLength(2);
      expect((await batched()).slice(before)).toEqual([]);

      // With room again, the next pass sends only the two left.
      await setQuota(0);
      const second = await cfs(["sync", E, "--once"], { CFS_TOKEN: token });
      expect([...second.stdout.matchAll(/^uploaded (q\d\d\.bin) /gm)].map((m) => m[1]).sort(), second.stderr).toEqual(refused.sort());
      expect((await call(clients.metadata.listFiles, clients.metadata, { pageSize: 100, pageToken: "", prefix: "" }, token)).files).toHaveLength(12);
    } finally {
      clients.close();
    }
  });

  it("follows changes both ways while running, and resumes from its saved cursor after a restart", async () => {
    const syncA = follow(A);
    let syncB = follow(B);
    await syncA.waitFor(/following remote changes/);
    await syncB.waitFor(/following remote changes/);
    expect(syncB.output()).toMatch(/resuming the change feed from the saved cursor/);

    await write(join(A, "live.txt"), "made in A");
    await waitUntil(async () => (await text(join(B, "live.txt"))) === "made in A", 20_000, () => `live.txt in B:\n${syncB.output()}`);
    await rm(join(B, "docs", "deep", "c.bin"));
    await waitUntil(async () => (await text(join(A, "docs", "deep", "c.bin"))) === undefined, 20_000, () => `c.bin gone from A:\n${syncA.output()}`);
    await write(join(B, "e.txt"), "epsilon 2");
    await waitUntil(async () => (await text(join(A, "e.txt"))) === "epsilon 2", 20_000, () => `e.txt updated in A:\n${syncA.output()}`);

    // Stop B; its state file holds the cursor it reached.
    expect(await syncB.stop()).toBe(130);
    const saved = JSON.parse(await readFile(join(B, ".cfs-sync", "state.json"), "utf8")) as { cursor: string; files: Record<string, unknown> };
    expect(saved.cursor).not.toBe("");
    expect(Object.keys(saved.files)).toContain("live.txt");

    await write(join(A, "offline.txt"), "made while B was stopped");
    await syncA.waitFor(/uploaded offline\.txt/);
    syncB = follow(B);
    await syncB.waitFor(/following remote changes/);
    expect(syncB.output()).toMatch(/resuming the change feed from the saved cursor/);
    // The line, not the file: the file is in place a moment before the line is printed.
    await syncB.waitFor(/^downloaded offline\.txt/m);
    expect(await text(join(B, "offline.txt"))).toBe("made while B was stopped");
    // Only what changed moved.
    const moved = syncB.output().match(/^(downloaded|uploaded|deleted) .*/gm);
    expect(moved).toEqual([expect.stringMatching(/^downloaded offline\.txt/)]);

    // And live changes keep flowing after the restart.
    await write(join(A, "after-restart.txt"), "still live");
    await waitUntil(async () => (await text(join(B, "after-restart.txt"))) === "still live", 20_000, () => `after-restart.txt in B:\n${syncB.output()}`);
    await syncA.stop();
    await syncB.stop();
    expect(await tree(A)).toEqual(await tree(B));
  });

  it("renames instead of transferring: a local rename becomes MoveFile, a remote move a local rename; trash and undelete follow", async () => {
    const idOf = async (name: string) => {
      const { files } = JSON.parse((await cfs(["ls", "--all", "--json"])).stdout) as { files: Array<{ fileId: string; name: string; version: number }> };
      return files.find((f) => f.name === name);
    };
    await write(join(A, "to-move.txt"), "a file that moves around");
    await once(A);
    await once(B);
    const before = (await idOf("to-move.txt"))!;

    await mkdir(join(A, "moved"), { recursive: true });
    await rename(join(A, "to-move.txt"), join(A, "moved", "here.txt"));
    const local = await once(A);
    expect(local).toMatch(/^moved to-move\.txt -> moved\/here\.txt on the server \(moved locally\)$/m);
    expect(local).not.toMatch(/^(uploaded|deleted) /m);
    expect(await idOf("moved/here.txt")).toMatchObject({ fileId: before.fileId, version: before.version });
    const remote = await once(B);
    expect(remote).toMatch(/^moved to-move\.txt -> moved\/here\.txt \(moved on the server\)$/m);
    expect(remote).not.toMatch(/^(downloaded|deleted) /m);
    expect(await tree(B)).toEqual(await tree(A));

    // While following: a move on the server (cfs mv) renames the local copy, a trash removes it, an undelete brings it back.
    const syncB = follow(B);
    await syncB.waitFor(/following remote changes/);
    expect((await cfs(["mv", before.fileId, "moved/again.txt"])).code).toBe(0);
    await syncB.waitFor(/^moved moved\/here\.txt -> moved\/again\.txt \(moved on the server\)$/m);
    expect(await text(join(B, "moved", "again.txt"))).toBe("a file that moves around");
    expect((await cfs(["rm", before.fileId])).code).toBe(0);
    await waitUntil(async () => (await text(join(B, "moved", "again.txt"))) === undefined, 20_000, () => `again.txt gone from B:\n${syncB.output()}`);
    expect((await cfs(["undelete", before.fileId])).code).toBe(0);
    await waitUntil(async () => (await text(join(B, "moved", "again.txt"))) !== undefined, 20_000, () => `again.txt back in B:\n${syncB.output()}`);
    await syncB.stop();
    await once(A);
    expect(await tree(A)).toEqual(await tree(B));
  });

  it("maps a local NFD name to the NFC form the server keeps instead of skipping it", async () => {
    const nfd = "Cafe\u0301 menu.txt";
    const nfc = nfd.normalize("NFC");
    await write(join(A, nfd), "espresso");
    const out = await once(A);
    expect(out).toContain(`renamed ${JSON.stringify(nfd)} to its NFC form ${JSON.stringify(nfc)}`);
    expect(out).toMatch(new RegExp(`^uploaded ${nfc} `, "m"));
    expect(await text(join(A, nfc))).toBe("espresso");
    expect(await once(A)).toBe("");
    await once(B);
    expect(await text(join(B, nfc))).toBe("espresso");
  });

  it("refuses a second sync of the same folder and a path that is not a directory", async () => {
    const first = follow(A);
    await first.waitFor(/following remote changes/);
    const second = await cfs(["sync", A, "--once"]);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/being synced by another cfs sync/);
    await first.stop();
    expect((await cfs(["sync", join(A, "a.txt")])).code).toBe(2);
  });
});
