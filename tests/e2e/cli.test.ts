import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServiceTokenSource } from "#lib/auth.js";
import { startStack, type RunningStack } from "../../dev/stack.js";

// The `cfs` CLI as a script would run it, against real services.
const CFS = fileURLToPath(new URL("../../cli/bin/cfs", import.meta.url));
let stack: RunningStack;
let dir: string;
let env: NodeJS.ProcessEnv;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cfs(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(CFS, args, { cwd: dir, env: { ...env, ...extraEnv }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cfs-cli-"));
  stack = await startStack({ dataDir: join(dir, "data"), defaultPorts: false, logs: "files" });
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CFS_CHUNKER_ADDR: stack.addresses.chunker,
    CFS_METADATA_ADDR: stack.addresses.metadata,
    CFS_DEV_ISSUER_URL: stack.issuer!.issuer.replace(/\/$/, ""),
  };
  const token = await cfs(["token", "carol"]);
  expect(token.code).toBe(0);
  env.CFS_TOKEN = token.stdout.trim();
});

afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("cfs CLI", () => {
  it("puts, lists, gets, versions and removes a file", async () => {
    const data = randomBytes(2 * 1024 * 1024 + 11);
    await writeFile(join(dir, "local.bin"), data);
    const put = await cfs(["put", "local.bin", "--name", "docs/report.bin"]);
    expect(put.code, put.stderr).toBe(0);
    const file = JSON.parse(put.stdout) as { fileId: string; version: number };
    expect(file.version).toBe(1);

    const ls = await cfs(["ls", "--json", "--prefix", "docs/"]);
    expect(ls.code).toBe(0);
    expect(JSON.stringify(JSON.parse(ls.stdout))).toContain("docs/report.bin");

    const get = await cfs(["get", file.fileId, "-o", "copy.bin"]);
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(join(dir, "copy.bin"))).equals(data)).toBe(true);

    await writeFile(join(dir, "local.bin"), Buffer.from("v2"));
    expect((await cfs(["put", "local.bin", "--name", "docs/report.bin"])).code).toBe(0);
    const versions = await cfs(["versions", file.fileId, "--json"]);
    expect(versions.code).toBe(0);
    expect(JSON.stringify(JSON.parse(versions.stdout))).toMatch(/"version":2/);

    expect((await cfs(["rm", file.fileId])).code).toBe(0);
    expect((await cfs(["get", file.fileId, "-o", "gone.bin"])).code).toBe(3);
  });

  it("moves, gets and restores old versions, keeps a trash, and reports usage against a quota", async () => {
    await writeFile(join(dir, "notes.md"), "first");
    const put = await cfs(["put", "notes.md"]);
    const file = JSON.parse(put.stdout) as { fileId: string; contentType: string };
    expect(file.contentType).toBe("text/markdown");
    await writeFile(join(dir, "notes.md"), "second!");
    expect((await cfs(["put", "notes.md"])).code).toBe(0);

    const mv = await cfs(["mv", file.fileId, "archive/notes.md"]);
    expect([mv.code, mv.stdout]).toEqual([0, "archive/notes.md\n"]);
    await writeFile(join(dir, "taken.txt"), "x");
    expect((await cfs(["put", "taken.txt"])).code).toBe(0);
    expect((await cfs(["mv", file.fileId, "taken.txt"])).code).toBe(8);

    expect((await cfs(["get", file.fileId, "--version", "1", "-o", "v1.md"])).code).toBe(0);
    expect(await readFile(join(dir, "v1.md"), "utf8")).toBe("first");
    expect((await cfs(["get", file.fileId, "--version", "9", "-o", "v9.md"])).code).toBe(3);
    const restore = await cfs(["restore", file.fileId, "1"]);
    expect(restore.stdout).toBe("archive/notes.md: version 1 is now version 3\n");
    expect((await cfs(["get", file.fileId, "-o", "now.md"])).code).toBe(0);
    expect(await readFile(join(dir, "now.md"), "utf8")).toBe("first");

    expect((await cfs(["rm", file.fileId])).code).toBe(0);
    const trash = await cfs(["trash"]);
    expect(trash.stdout).toMatch(new RegExp(`^FILE ID\\s+SIZE\\s+DELETED \\(UTC\\)\\s+NAME\n${file.fileId}\\s+5 B\\s+\\d{4}-\\d\\d-\\d\\d [\\d:]{8}\\s+archive/notes.md\n`));
    expect((await cfs(["undelete", file.fileId])).stdout).toBe("archive/notes.md\n");
    expect((await cfs(["rm", file.fileId])).code).toBe(0);
    expect((await cfs(["purge", file.fileId])).code).toBe(0);
    expect((await cfs(["undelete", file.fileId])).code).toBe(3);

    const usage = JSON.parse((await cfs(["usage", "--json"])).stdout) as { usedBytes: number; quotaBytes: number };
    expect(usage.quotaBytes).toBe(0);
    expect((await cfs(["usage"])).stdout).toMatch(/^\d+(\.\d)? (B|KiB|MiB) used \(no quota\), \d+(\.\d)? (B|KiB|MiB) in the trash, \d+ files?\n$/);
    const service = createServiceTokenSource({ tokenUrl: stack.issuer!.tokenUrl, clientId: "cfs-services", clientSecret: "dev-service-secret", audience: stack.audience });
    expect((await cfs(["quota", "carol", String(usage.usedBytes + 10)])).code).toBe(4);
    expect((await cfs(["quota", "carol", String(usage.usedBytes + 10)], { CFS_TOKEN: await service() })).code).toBe(0);
    expect((await cfs(["usage"])).stdout).toMatch(/ used \(99%\)|used \(\d+%\)/);
    await writeFile(join(dir, "big.bin"), randomBytes(100));
    expect((await cfs(["put", "big.bin"])).code).toBe(9);
    expect((await cfs(["quota", "carol", "default"], { CFS_TOKEN: await service() })).code).toBe(0);
    expect((await cfs(["put", "big.bin"])).code).toBe(0);
  });

  it("creates, lists and revokes app passwords", async () => {
    const created = await cfs(["app-password", "create", "--label", "cli laptop", "--json"]);
    expect(created.code, created.stderr).toBe(0);
    const { id, secret, username } = JSON.parse(created.stdout) as { id: string; secret: string; username: string };
    expect(username).toBe("carol");
    expect(secret).toMatch(/^[a-z2-7]{8}(-[a-z2-7]{8}){3}$/);
    const list = await cfs(["app-password", "list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s.*never\\s+cli laptop`));
    expect(list.stdout).not.toContain(secret);
    expect((await cfs(["app-password", "revoke", id])).code).toBe(0);
    expect((await cfs(["app-password", "revoke", id])).code).toBe(3);
    expect(JSON.parse((await cfs(["app-password", "list", "--json"])).stdout)).toEqual({ appPasswords: [] });
  });

  it("exits with codes scripts can rely on", async () => {
    expect((await cfs(["get", "8a7c2d4e-1f3b-4c5d-9e6f-0a1b2c3d4e5f"])).code).toBe(3);
    expect((await cfs(["get", "not-a-uuid"])).code).toBe(5);
    expect((await cfs(["ls"], { CFS_TOKEN: "garbage" })).code).toBe(4);
    expect((await cfs(["ls"], { CFS_TOKEN: "" })).code).toBe(4);
    expect((await cfs(["frobnicate"])).code).toBe(2);
    expect((await cfs(["put", "no-such-file"])).code).toBe(3);
  });
});
