import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createStaticHandler } from "../../gateway/edge/static.js";

// A file that disappears or turns unreadable between stat and read: its stream fails.
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const createReadStream = ((path: string, ...rest: unknown[]) =>
    String(path).endsWith("broken.txt")
      ? new Readable({ read() { this.destroy(Object.assign(new Error("EIO: i/o error, read"), { code: "EIO" })); } })
      : (fs.createReadStream as (...args: unknown[]) => unknown)(path, ...rest)) as typeof fs.createReadStream;
  return { ...fs, createReadStream };
});

// The edge's web page files (gateway/edge/static.ts) on a throwaway root, with a secret beside it.

let dir: string;
let server: Server;
let base: string;

/** A raw GET: fetch would normalise the dot segments the test means to send. */
function get(path: string, method = "GET"): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, signal: AbortSignal.timeout(5_000) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (part: string) => (body += part));
      res.on("end", () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cfs-edge-static-"));
  const root = join(dir, "web");
  await mkdir(join(root, "assets"), { recursive: true });
  await writeFile(join(root, "index.html"), "<!doctype html>page");
  await writeFile(join(root, "assets", "app-1234.js"), "console.log(1)");
  await writeFile(join(root, "broken.txt"), "unreadable");
  await writeFile(join(dir, "secret.txt"), "secret");
  const serve = createStaticHandler(root, { auth: { mode: "dev", tokenUrl: "http://127.0.0.1:9/dev/token" } });
  server = createServer((req, res) => {
    serve(req, res, new URL(req.url ?? "/", "http://edge").pathname).catch(() => (res.headersSent ? res.destroy() : res.writeHead(500).end()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => {
    server?.close(resolve);
    server?.closeAllConnections();
  });
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("edge static files", () => {
  it("serves the page, its assets, /config.json and the SPA fallback with the page's headers", async () => {
    const page = await get("/");
    expect(page).toMatchObject({ status: 200, body: "<!doctype html>page" });
    expect(page.headers["content-security-policy"]).toContain("connect-src 'self' http://127.0.0.1:9");
    expect((await get("/files/some/folder")).body).toBe("<!doctype html>page");
    const asset = await get("/assets/app-1234.js");
    expect(asset.headers["cache-control"]).toContain("immutable");
    expect(JSON.parse((await get("/config.json")).body)).toEqual({ auth: { mode: "dev", tokenUrl: "http://127.0.0.1:9/dev/token" } });
    expect(await get("/index.html", "HEAD")).toMatchObject({ status: 200, body: "" });
    expect((await get("/", "POST")).status).toBe(405);
  });

  it.each(["/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt", "/%2e%2e%2fsecret.txt", "/..%5csecret.txt", "/%00"])(
    "never serves a file outside the root for %s",
    async (path) => {
      const response = await get(path);
      expect(response.body).not.toContain("secret");
    },
  );

  it("fails a file it cannot read without taking the server down", async () => {
    await expect(get("/broken.txt")).rejects.toThrow();
    expect((await get("/")).status).toBe(200);
  });
});
