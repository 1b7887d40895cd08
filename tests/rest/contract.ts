import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevIssuer } from "../../dev/issuer.js";
import { loadHttpRoutes, loadRegistry, REST_SERVICES } from "../../gateway/edge/routes.js";
import { fastCdcCutPoints } from "#lib/fastcdc.js";
import { waitFor } from "../support/net.js";
import { forgedTokens } from "../support/tokens.js";

/**
 * The REST contract: what a REST client may rely on, whichever gateway
 * serves it (the TypeScript edge of `make run`, or Envoy). Every route of
 * the google.api.http annotations, the proto3 JSON mapping, status codes,
 * raw-bytes upload and download, byte ranges and CORS.
 */
export interface RestTarget {
  baseUrl: string;
  /** The dev issuer the gateway and the services trust. */
  issuer: DevIssuer;
  audience: string;
  /** An origin the gateway allows for CORS. */
  pageOrigin: string;
  /** The chunker's Prometheus endpoint (http://host:port/metrics): a call's end is observable there. */
  chunkerMetricsUrl: string;
  stop(): Promise<void>;
}


const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const FOREIGN_ID = "8a7c2d4e-1f3b-4c5d-9e6f-0a1b2c3d4e5f";

interface FileJson {
  fileId: string;
  name: string;
  size: string;
  sha256: string;
  contentType: string;
  numChunks: number;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export function describeRestContract(label: string, start: () => Promise<RestTarget>): void {
  describe(`REST contract: ${label}`, () => {
    let target: RestTarget;
    let alice: string;
    let bob: string;

    beforeAll(async () => {
      target = await start();
      alice = await target.issuer.userToken(`alice-${label}`);
      bob = await target.issuer.userToken(`bob-${label}`);
    }, 180_000);
    afterAll(async () => target?.stop(), 60_000);

    const api = (path: string, token: string | undefined, init: RequestInit = {}) =>
      fetch(`${target.baseUrl}${path}`, {
        ...init,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string>) },
        signal: AbortSignal.timeout(60_000),
      });
    const json = async <T>(response: Response, status = 200): Promise<T> => {
      const text = await response.text();
      expect(response.status, text).toBe(status);
      return JSON.parse(text) as T;
    };
    const upload = async (token: string, name: string, data: Uint8Array, contentType = "application/octet-stream", query = "") =>
      api(`/v1/files?name=${encodeURIComponent(name)}${query}`, token, { method: "POST", body: data, headers: { "content-type": contentType } });
    const uploaded = async (token: string, name: string, data: Uint8Array, contentType?: string) =>
      (await json<{ file: FileJson }>(await upload(token, name, data, contentType))).file;
    const listNames = async (token: string, query = "") =>
      (await json<{ files: FileJson[] }>(await api(`/v1/files?pageSize=1000${query}`, token))).files.map((f) => f.name);

    it("serves health without a token", async () => {
      expect((await api("/healthz", undefined)).status).toBe(200);
    });

    it("needs a valid token on every annotated route", async () => {
      const routes = loadHttpRoutes(loadRegistry(await readFile("gen/descriptor-set.binpb")), REST_SERVICES);
      expect(routes.map((r) => `${r.httpMethod} ${r.template}`).sort()).toEqual(
        [
          "GET /v1/files",
          "POST /v1/files",
          "GET /v1/files/{file_id}",
          "DELETE /v1/files/{file_id}",
          "GET /v1/files/{file_id}/chunks",
          "GET /v1/files/{file_id}/versions",
          "POST /v1/files/{file_id}/move",
          "POST /v1/files/{file_id}/versions/{version}/restore",
          "GET /v1/trash",
          "POST /v1/trash/{file_id}/undelete",
          "DELETE /v1/trash/{file_id}",
          "GET /v1/usage",
          "PUT /v1/quotas/{owner}",
          "GET /v1/files/{file_id}/content",
          "HEAD /v1/files/{file_id}/content",
          "GET /v1/files/{file_id}/sync-status",
          "GET /v1/sync-events",
          "GET /v1/sync-events/{event_id}",
          "GET /v1/changes",
          "POST /v1/app-passwords",
          "GET /v1/app-passwords",
          "DELETE /v1/app-passwords/{id}",
          "GET /v1/upload-config",
          "POST /v1/uploads",
          "POST /v1/uploads/{upload_id}/chunk-list",
          "GET /v1/uploads/{upload_id}",
          "PUT /v1/uploads/{upload_id}/chunks/{index}",
          "POST /v1/uploads/{upload_id}/finish",
          "DELETE /v1/uploads/{upload_id}",
        ].sort(),
      );
      const paths = routes.map((r) => ({ method: r.httpMethod, path: r.template.replace("{version}", "1").replace(/\{[^}]+\}/g, FOREIGN_ID) }));
      const forged = await forgedTokens(target.issuer, target.audience);
      for (const { method, path } of paths) {
        const response = await api(path.replace("{index}", "0"), undefined, { method, ...(method === "POST" || method === "PUT" ? { body: "x" } : {}) });
        expect(response.status, `${method} ${path} without a token`).toBe(401);
        await response.body?.cancel();
      }
      for (const [what, token] of forged) {
        const response = await api("/v1/files", token);
        expect(response.status, `GET /v1/files with a token that is ${what}`).toBe(401);
        await response.body?.cancel();
      }
      const response = await upload(forged[0]![1], "forged.txt", new TextEncoder().encode("intruder"));
      expect(response.status).toBe(401);
      await response.body?.cancel();
    });

    it("uploads raw bytes and downloads them byte-identical, with the proto3 JSON shape", async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const response = await upload(alice, "reports/q3 summary.bin", data, "application/x-test", `&size=${data.length}&sha256=${sha256(data)}`);
      const { file } = await json<{ file: FileJson }>(response);
      expect(file).toMatchObject({ name: "reports/q3 summary.bin", size: String(data.length), sha256: sha256(data), contentType: "application/x-test", version: 1 });
      expect(file.numChunks).toBeGreaterThan(0);
      expect(file.fileId).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(file.createdAt)).not.toBeNaN();

      const download = await api(`/v1/files/${file.fileId}/content`, alice);
      expect(download.status).toBe(200);
      expect(download.headers.get("content-type")).toBe("application/x-test");
      expect(download.headers.get("content-length")).toBe(String(data.length));
      expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(sha256(data));
      // HEAD: the GET's headers, no body; a missing file is a 404 without one too.
      const head = await api(`/v1/files/${file.fileId}/content`, alice, { method: "HEAD" });
      expect(head.status).toBe(200);
      for (const name of ["content-type", "content-length", "content-disposition"]) expect(head.headers.get(name), name).toBe(download.headers.get(name));
      expect(await head.text()).toBe("");
      const missing = await api(`/v1/files/${FOREIGN_ID}/content`, alice, { method: "HEAD" });
      expect(missing.status).toBe(404);
      expect(await missing.text()).toBe("");

      const got = await json<{ file: FileJson }>(await api(`/v1/files/${file.fileId}`, alice));
      expect(got.file).toEqual(file);
      const chunks = await json<{ chunks: Array<{ index: number; sha256: string; size: number; offset: string }>; nextPageToken: string }>(
        await api(`/v1/files/${file.fileId}/chunks`, alice),
      );
      // FastCDC's cut points, as any client computes them from the bytes.
      const { chunkAvgBytes } = await json<{ chunkAvgBytes: number }>(await api("/v1/upload-config", alice));
      const expected = [...fastCdcCutPoints(data, chunkAvgBytes)];
      expect(chunks.chunks.map((c) => [c.offset, c.size])).toEqual(expected.map((p) => [String(p.offset), p.length]));
      chunks.chunks.forEach((c, i) => expect(c).toMatchObject({ index: i, sha256: sha256(data.subarray(Number(c.offset), Number(c.offset) + c.size)) }));
      expect(chunks.nextPageToken).toBe("");
    });

    it("uploads through a session: only the chunks the server lacks travel, as raw bytes, and a retried finish commits once", async () => {
      const config = await json<{ chunkAvgBytes: number; chunkMinBytes: number; chunkMaxBytes: number; maxChunksPerPage: number }>(await api("/v1/upload-config", alice));
      expect(config.chunkMinBytes * 4).toBe(config.chunkAvgBytes);
      const data = randomBytes(3 * config.chunkMaxBytes);
      const chunks = [...fastCdcCutPoints(data, config.chunkAvgBytes)].map(({ offset, length }) => ({ offset, size: length, sha256: sha256(data.subarray(offset, offset + length)) }));
      expect(chunks.length).toBeGreaterThan(2);
      // The first chunks are stored already: their bytes, uploaded as a file of their own, cut the same way.
      const stored = Math.ceil(chunks.length / 2);
      await uploaded(alice, "sessions/prefix.bin", data.subarray(0, chunks[stored]!.offset));

      const post = (path: string, body: unknown, token = alice) =>
        api(path, token, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
      const { upload, missing } = await json<{ upload: { uploadId: string; chunkCount: number; chunksDeclared: number }; missing: Array<{ start: number; count: number }> }>(
        await post("/v1/uploads", {
          name: "sessions/whole.bin",
          size: String(data.length),
          sha256: sha256(data),
          chunkCount: chunks.length,
          chunks: chunks.slice(0, 1).map(({ sha256, size }) => ({ sha256, size })),
        }),
      );
      expect(upload).toMatchObject({ chunkCount: chunks.length, chunksDeclared: 1 });
      expect(missing).toEqual([]);
      const rest = await json<{ missing: Array<{ start: number; count: number }> }>(
        await post(`/v1/uploads/${upload.uploadId}/chunk-list`, { firstIndex: 1, chunks: chunks.slice(1).map(({ sha256, size }) => ({ sha256, size })) }),
      );
      expect(rest.missing).toEqual([{ start: stored, count: chunks.length - stored }]);
      // Bob sees no such upload.
      for (const response of [await api(`/v1/uploads/${upload.uploadId}`, bob), await post(`/v1/uploads/${upload.uploadId}/finish`, {}, bob)]) {
        expect(response.status).toBe(404);
        await response.body?.cancel();
      }
      // Finishing early is refused; the missing chunks go as one raw body.
      expect((await post(`/v1/uploads/${upload.uploadId}/finish`, {})).status).toBe(400);
      const put = await api(`/v1/uploads/${upload.uploadId}/chunks/${stored}`, alice, {
        method: "PUT",
        body: data.subarray(chunks[stored]!.offset),
        headers: { "content-type": "application/octet-stream" },
      });
      expect(await json<{ chunksStored: number; bytesStored: string }>(put)).toEqual({ chunksStored: chunks.length - stored, bytesStored: String(data.length - chunks[stored]!.offset) });
      expect(await json<{ missing: unknown[]; missingBytes: string }>(await api(`/v1/uploads/${upload.uploadId}`, alice))).toMatchObject({ missing: [], missingBytes: "0" });
      const { file } = await json<{ file: FileJson }>(await post(`/v1/uploads/${upload.uploadId}/finish`, {}));
      expect(file).toMatchObject({ name: "sessions/whole.bin", size: String(data.length), sha256: sha256(data), numChunks: chunks.length, version: 1 });
      expect((await json<{ file: FileJson }>(await post(`/v1/uploads/${upload.uploadId}/finish`, {}))).file).toEqual(file);
      const download = await api(`/v1/files/${file.fileId}/content`, alice);
      expect(Buffer.from(await download.arrayBuffer()).equals(data)).toBe(true);
    });

    it("refuses chunk bytes that do not match their declared hash, committing nothing", async () => {
      const data = randomBytes(100_000);
      const post = (path: string, body: unknown) => api(path, alice, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
      const { upload } = await json<{ upload: { uploadId: string } }>(
        await post("/v1/uploads", { name: "sessions/lie.bin", size: String(data.length), chunkCount: 1, chunks: [{ sha256: sha256(data), size: data.length }] }),
      );
      const lie = Buffer.from(data);
      lie[7] = lie[7]! ^ 1;
      const put = await api(`/v1/uploads/${upload.uploadId}/chunks/0`, alice, { method: "PUT", body: lie, headers: { "content-type": "application/octet-stream" } });
      const error = await json<{ code: number; message: string }>(put, 400);
      expect(error.message).toMatch(/do not match/);
      expect((await post(`/v1/uploads/${upload.uploadId}/finish`, {})).status).toBe(400);
      expect(await listNames(alice, "&prefix=sessions/lie")).toEqual([]);
      const cancelled = await api(`/v1/uploads/${upload.uploadId}`, alice, { method: "DELETE" });
      expect(cancelled.status).toBe(200);
      await cancelled.body?.cancel();
      expect((await api(`/v1/uploads/${upload.uploadId}`, alice)).status).toBe(404);
    });

    it("serves byte ranges with offset and length", async () => {
      const data = randomBytes(2 * 1024 * 1024 + 100);
      const file = await uploaded(alice, "ranges.bin", data);
      const range = async (query: string) => new Uint8Array(await (await api(`/v1/files/${file.fileId}/content?${query}`, alice)).arrayBuffer());
      expect(Buffer.from(await range("offset=1048000&length=2000")).equals(data.subarray(1048000, 1050000))).toBe(true);
      expect(Buffer.from(await range(`offset=${data.length - 10}`)).equals(data.subarray(data.length - 10))).toBe(true);
      expect(Buffer.from(await range("offset=0&length=1")).equals(data.subarray(0, 1))).toBe(true);
      const beyond = await json<{ code: number; message: string }>(await api(`/v1/files/${file.fileId}/content?offset=${data.length + 1}`, alice), 400);
      expect(beyond.code).toBe(11); // OUT_OF_RANGE
      expect((await api(`/v1/files/${file.fileId}/content?offset=-1`, alice)).status).toBe(400);
    });

    it("uploads an empty file", async () => {
      const file = await uploaded(alice, "empty.txt", new Uint8Array(0), "text/plain");
      expect(file).toMatchObject({ size: "0", numChunks: 0, sha256: sha256(new Uint8Array(0)) });
      const download = await api(`/v1/files/${file.fileId}/content`, alice);
      expect(download.status).toBe(200);
      expect((await download.arrayBuffer()).byteLength).toBe(0);
    });

    it("lists with paging and a prefix, by JSON or proto field names", async () => {
      for (const name of ["paging/a", "paging/b", "paging/c"]) await uploaded(alice, name, new TextEncoder().encode(name));
      const first = await json<{ files: FileJson[]; nextPageToken: string }>(await api("/v1/files?prefix=paging/&pageSize=2", alice));
      expect(first.files.map((f) => f.name)).toEqual(["paging/a", "paging/b"]);
      expect(first.nextPageToken).not.toBe("");
      const second = await json<{ files: FileJson[]; nextPageToken: string }>(
        await api(`/v1/files?prefix=paging/&page_size=2&page_token=${encodeURIComponent(first.nextPageToken)}`, alice),
      );
      expect(second.files.map((f) => f.name)).toEqual(["paging/c"]);
      expect(second.nextPageToken).toBe("");
    });

    it("keeps versions of a name, newest first", async () => {
      const v1 = await uploaded(alice, "versioned.txt", new TextEncoder().encode("one"), "text/plain");
      const v2 = await uploaded(alice, "versioned.txt", new TextEncoder().encode("two!"), "text/plain");
      expect(v2).toMatchObject({ fileId: v1.fileId, version: 2, size: "4" });
      const { versions } = await json<{ versions: Array<{ version: number; size: string }> }>(await api(`/v1/files/${v1.fileId}/versions`, alice));
      expect(versions.map((v) => [v.version, v.size])).toEqual([
        [2, "4"],
        [1, "3"],
      ]);
      expect(await (await api(`/v1/files/${v1.fileId}/content`, alice)).text()).toBe("two!");
    });

    it("answers 404 for another user's file on every file route, and changes nothing", async () => {
      const file = await uploaded(alice, "private.txt", new TextEncoder().encode("alice only"));
      for (const suffix of ["", "/content", "/chunks", "/versions", "/sync-status"]) {
        const response = await api(`/v1/files/${file.fileId}${suffix}`, bob);
        expect(response.status, `GET /v1/files/{id}${suffix} as another user`).toBe(404);
        expect((await response.json()) as { code: number }).toMatchObject({ code: 5 });
      }
      expect((await api(`/v1/files/${file.fileId}`, bob, { method: "DELETE" })).status).toBe(404);
      const post = (path: string, body: object) => api(path, bob, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
      expect((await post(`/v1/files/${file.fileId}/move`, { newName: "stolen.txt" })).status).toBe(404);
      expect((await post(`/v1/files/${file.fileId}/versions/1/restore`, {})).status).toBe(404);
      expect((await api(`/v1/files/${file.fileId}/content?version=1`, bob)).status).toBe(404);
      expect((await post(`/v1/trash/${file.fileId}/undelete`, {})).status).toBe(404);
      expect((await api(`/v1/trash/${file.fileId}`, bob, { method: "DELETE" })).status).toBe(404);
      expect(await listNames(bob)).not.toContain("private.txt");
      expect((await api(`/v1/files/${file.fileId}`, alice)).status).toBe(200);
    });

    it("answers 400 for bad input and stores nothing", async () => {
      const before = await listNames(alice);
      const error = await json<{ code: number; message: string }>(await api("/v1/files?colour=blue", alice), 400);
      expect(error.code).toBe(3);
      expect((await api("/v1/files?pageSize=many", alice)).status).toBe(400);
      expect((await api("/v1/files/not-a-uuid", alice)).status).toBe(400);
      expect((await upload(alice, "", new TextEncoder().encode("no name"))).status).toBe(400);
      const data = randomBytes(1500);
      expect((await upload(alice, "wrong-size.bin", data, undefined, "&size=1499")).status).toBe(400);
      expect((await upload(alice, "wrong-hash.bin", data, undefined, `&sha256=${"0".repeat(64)}`)).status).toBe(400);
      expect((await upload(alice, "../escape", data)).status).toBe(400);
      // Bytes that are not UTF-8 are refused, never replaced; so is a path segment no file system takes.
      const badBytes = await api("/v1/files?name=a%FFb", alice, { method: "POST", body: data, headers: { "content-type": "application/octet-stream" } });
      expect(badBytes.status).toBe(400);
      expect(((await badBytes.json()) as { message: string }).message).toMatch(/UTF-8/);
      expect((await upload(alice, `dir/${"a".repeat(256)}`, data)).status).toBe(400);
      // An int64 beyond 2^53 cannot be decoded by the services (found by schemathesis: it was a 500).
      expect((await upload(alice, "huge-size.bin", data, undefined, "&size=86992141092247513")).status).toBe(400);
      expect((await api(`/v1/files/${FOREIGN_ID}/content?offset=86992141092247513`, alice)).status).toBe(400);
      expect(await listNames(alice)).toEqual(before);
    });

    /** UploadFileContent calls the chunker has finished, whatever their status. */
    const uploadsEnded = async () =>
      (await (await fetch(target.chunkerMetricsUrl)).text())
        .split("\n")
        .filter((l) => l.startsWith('cfs_grpc_server_handled_total{method="ChunkerService/UploadFileContent"'))
        .reduce((n, l) => n + Number(l.split(" ").pop()), 0);

    it("commits nothing when the client goes away mid-upload", async () => {
      const before = await listNames(alice);
      const ended = await uploadsEnded();
      const url = new URL(`${target.baseUrl}/v1/files?name=cut-off.bin`);
      await new Promise<void>((resolve) => {
        const req = request(url, {
          method: "POST",
          headers: { authorization: `Bearer ${alice}`, "content-type": "application/octet-stream", "content-length": String(8 * 1024 * 1024) },
        });
        req.on("error", () => resolve());
        req.on("response", () => resolve());
        req.write(randomBytes(3 * 1024 * 1024), () => setTimeout(() => req.destroy(), 300));
      });
      // The gateway cancels the call: once the chunker has ended it, nothing may have been committed.
      await waitFor(async () => (await uploadsEnded()) > ended, 20_000, "the chunker to end the cut-off upload");
      expect(await listNames(alice)).toEqual(before);
    });

    it("answers an upload that fails early with 400 before the client has sent it all", async () => {
      const big = randomBytes(32 * 1024 * 1024);
      const response = await upload(alice, "too-long.bin", big, undefined, "&size=10");
      const error = await json<{ code: number; message: string }>(response, 400);
      expect(error.message).toMatch(/size/);
      expect(await listNames(alice)).not.toContain("too-long.bin");
    });

    it("deletes a file", async () => {
      const file = await uploaded(alice, "doomed.txt", new TextEncoder().encode("bye"));
      expect(await json<object>(await api(`/v1/files/${file.fileId}`, alice, { method: "DELETE" }))).toEqual({});
      expect((await api(`/v1/files/${file.fileId}`, alice)).status).toBe(404);
      expect((await api(`/v1/files/${file.fileId}/content`, alice)).status).toBe(404);
      expect((await api(`/v1/files/${file.fileId}`, alice, { method: "DELETE" })).status).toBe(404);
    });

    it("moves a file, restores a version, and keeps a trash with undelete and purge", async () => {
      const send = (method: string, path: string, body?: object) =>
        api(path, alice, { method, ...(body ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}) });
      const file = await uploaded(alice, "rest/old name.txt", new TextEncoder().encode("one"));
      await uploaded(alice, "rest/old name.txt", new TextEncoder().encode("two!"));
      await uploaded(alice, "rest/taken.txt", new TextEncoder().encode("taken"));
      const moved = await json<{ file: FileJson }>(await send("POST", `/v1/files/${file.fileId}/move`, { newName: "rest/new name.txt" }));
      expect(moved.file).toMatchObject({ fileId: file.fileId, name: "rest/new name.txt", version: 2 });
      expect((await json<{ code: number }>(await send("POST", `/v1/files/${file.fileId}/move`, { newName: "rest/taken.txt" }), 409)).code).toBe(6);
      const restored = await json<{ file: FileJson }>(await send("POST", `/v1/files/${file.fileId}/versions/1/restore`, {}));
      expect(restored.file).toMatchObject({ version: 3, size: "3" });
      expect(await (await api(`/v1/files/${file.fileId}/content`, alice)).text()).toBe("one");

      expect(await json<object>(await send("DELETE", `/v1/files/${file.fileId}`))).toEqual({});
      const { files } = await json<{ files: Array<FileJson & { deletedAt: string }> }>(await api("/v1/trash?pageSize=100", alice));
      expect(files.find((f) => f.fileId === file.fileId)).toMatchObject({ name: "rest/new name.txt", deletedAt: expect.any(String) });
      expect((await json<{ file: FileJson }>(await send("POST", `/v1/trash/${file.fileId}/undelete`, {}))).file.name).toBe("rest/new name.txt");
      expect((await api(`/v1/files/${file.fileId}`, alice)).status).toBe(200);
      await send("DELETE", `/v1/files/${file.fileId}`);
      expect(await json<object>(await send("DELETE", `/v1/trash/${file.fileId}`))).toEqual({});
      expect((await send("POST", `/v1/trash/${file.fileId}/undelete`, {})).status).toBe(404);
    });

    it("downloads an old version with ?version=, as an attachment named by RFC 6266", async () => {
      const v1 = await uploaded(alice, "reports/Überblick «v».txt", new TextEncoder().encode("first"));
      await uploaded(alice, "reports/Überblick «v».txt", new TextEncoder().encode("second"));
      const old = await api(`/v1/files/${v1.fileId}/content?version=1`, alice);
      expect(old.status).toBe(200);
      expect(await old.text()).toBe("first");
      expect(await (await api(`/v1/files/${v1.fileId}/content?version=0`, alice)).text()).toBe("second");
      const disposition = (await api(`/v1/files/${v1.fileId}/content`, alice)).headers.get("content-disposition");
      expect(disposition).toBe(`attachment; filename="_berblick _v_.txt"; filename*=UTF-8''${encodeURIComponent("Überblick «v».txt")}`);
      const missing = await json<{ code: number }>(await api(`/v1/files/${v1.fileId}/content?version=7`, alice), 404);
      expect(missing.code).toBe(5);
    });

    it("reports usage, and refuses to let a user set a quota", async () => {
      const usage = await json<{ usedBytes: string; quotaBytes: string; fileCount: string; trashBytes: string }>(await api("/v1/usage", alice));
      expect(Number(usage.usedBytes)).toBeGreaterThan(0);
      expect(usage).toMatchObject({ quotaBytes: "0", trashBytes: expect.any(String) });
      const response = await api(`/v1/quotas/${encodeURIComponent("someone")}`, alice, {
        method: "PUT",
        body: JSON.stringify({ quotaBytes: "1" }),
        headers: { "content-type": "application/json" },
      });
      expect((await json<{ code: number }>(response, 403)).code).toBe(7);
    });

    it("reports sync events and a file's sync status", async () => {
      const file = await uploaded(alice, "synced.txt", new TextEncoder().encode("verify me"));
      type Status = { fileId: string; status: string; latestEvent: { eventId: string; eventType: string; verification?: { syncStatus: string } } };
      let status: Status | undefined;
      for (let i = 0; i < 150 && status?.status !== "EVENT_STATUS_COMPLETED"; i++) {
        const response = await api(`/v1/files/${file.fileId}/sync-status`, alice);
        if (response.status === 200) status = (await response.json()) as Status;
        else await response.body?.cancel();
        if (status?.status !== "EVENT_STATUS_COMPLETED") await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toMatchObject({ fileId: file.fileId, status: "EVENT_STATUS_COMPLETED", latestEvent: { eventType: "EVENT_TYPE_UPLOAD", verification: { syncStatus: "synchronized" } } });
      const { events } = await json<{ events: Array<{ eventId: string; fileId: string }> }>(await api(`/v1/sync-events?fileId=${file.fileId}`, alice));
      expect(events.map((e) => e.fileId)).toEqual([file.fileId]);
      const one = await json<{ event: { eventId: string; name: string } }>(await api(`/v1/sync-events/${events[0]!.eventId}`, alice));
      expect(one.event).toMatchObject({ eventId: events[0]!.eventId, name: "synced.txt" });
      expect((await api(`/v1/sync-events/${events[0]!.eventId}`, bob)).status).toBe(404);
      expect((await api("/v1/sync-events?status=EVENT_STATUS_COMPLETED&eventType=EVENT_TYPE_UPLOAD", alice)).status).toBe(200);
    });

    it("streams the change feed as a JSON array", async () => {
      const file = await uploaded(alice, "feed.txt", new TextEncoder().encode("feed"));
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 30_000);
      try {
        const response = await fetch(`${target.baseUrl}/v1/changes`, { headers: { authorization: `Bearer ${alice}` }, signal: controller.signal });
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toContain("application/json");
        const reader = response.body!.getReader();
        let text = "";
        while (!text.includes(file.fileId)) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
        expect(text.startsWith("[")).toBe(true);
        expect(text).toContain(`"fileId":"${file.fileId}"`);
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
    });

    it("allows the page's origin by CORS and no other", async () => {
      const preflight = await fetch(`${target.baseUrl}/v1/files`, {
        method: "OPTIONS",
        headers: { origin: target.pageOrigin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
      });
      expect(preflight.status).toBeLessThan(300);
      expect(preflight.headers.get("access-control-allow-origin")).toBe(target.pageOrigin);
      expect(preflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
      expect(preflight.headers.get("access-control-allow-methods")).toMatch(/POST/);

      const actual = await api("/v1/files", alice, { headers: { origin: target.pageOrigin } });
      expect(actual.status).toBe(200);
      expect(actual.headers.get("access-control-allow-origin")).toBe(target.pageOrigin);
      await actual.body?.cancel();

      const stranger = await fetch(`${target.baseUrl}/v1/files`, {
        method: "OPTIONS",
        headers: { origin: "https://evil.example", "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
      });
      expect(stranger.headers.get("access-control-allow-origin")).toBeNull();
      await stranger.body?.cancel();
    });
  });
}
