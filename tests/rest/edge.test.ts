import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import type { File } from "#gen/cfs/metadata/v1/metadata.js";
import { auth, clientsFor } from "../support/clients.js";
import { describeRestContract } from "./contract.js";

// The TypeScript edge of `make run`, in front of the embedded stack (PGlite, chunks on disk).
const PAGE_ORIGIN = "http://localhost:5173";

describeRestContract("edge", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "cfs-rest-edge-"));
  const stack = await startStack({ dataDir, defaultPorts: false, logs: "files", edge: { corsOrigins: [PAGE_ORIGIN] } });
  return {
    baseUrl: stack.edgeUrl!,
    issuer: stack.issuer!,
    audience: stack.audience,
    pageOrigin: PAGE_ORIGIN,
    chunkerMetricsUrl: `http://127.0.0.1:${stack.metricsPorts.chunker}/metrics`,
    stop: async () => {
      await stack.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});

describe("edge only", () => {
  let stack: RunningStack;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "cfs-rest-edge-only-"));
    stack = await startStack({ dataDir, defaultPorts: false, logs: "files", edge: {} });
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it("gives downloads a Content-Length, and answers HEAD like GET without a body (or its bytes read)", async () => {
    const token = await stack.issuer!.userToken("dave-edge");
    const data = new Uint8Array(300_000).fill(7);
    const put = await fetch(`${stack.edgeUrl}/v1/files?name=head.bin`, { method: "POST", body: data, headers: { authorization: `Bearer ${token}` } });
    const { file } = (await put.json()) as { file: { fileId: string } };
    const url = `${stack.edgeUrl}/v1/files/${file.fileId}/content`;
    const get = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(get.headers.get("content-length")).toBe("300000");
    expect((await get.arrayBuffer()).byteLength).toBe(300_000);
    const range = await fetch(`${url}?offset=100&length=50`, { headers: { authorization: `Bearer ${token}` } });
    expect(range.headers.get("content-length")).toBe("50");
    await range.body?.cancel();
    const head = await fetch(url, { method: "HEAD", headers: { authorization: `Bearer ${token}` } });
    expect(head.status).toBe(200);
    expect(Object.fromEntries([...head.headers].filter(([k]) => ["content-length", "content-type", "content-disposition"].includes(k)))).toEqual(
      Object.fromEntries([...get.headers].filter(([k]) => ["content-length", "content-type", "content-disposition"].includes(k))),
    );
    expect(await head.text()).toBe("");
    // HEAD only where an annotation binds it (as through Envoy): not on the JSON routes.
    const listed = await fetch(`${stack.edgeUrl}/v1/files`, { method: "HEAD", headers: { authorization: `Bearer ${token}` } });
    expect(listed.status).toBe(405);
    expect(listed.headers.get("allow")).toBe("POST, GET");
    expect((await fetch(`${stack.edgeUrl}/v1/files/${file.fileId}/content`, { method: "HEAD" })).status).toBe(401);
  });

  it("answers a transcoded HEAD over gRPC, as Envoy relays it: the download's metadata and one message with the content type, no bytes", async () => {
    const token = await stack.issuer!.userToken("erin-edge");
    const put = await fetch(`${stack.edgeUrl}/v1/files?name=${encodeURIComponent("für dich.txt")}`, {
      method: "POST",
      body: "twelve bytes",
      headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
    });
    const { file } = (await put.json()) as { file: { fileId: string } };
    const clients = clientsFor(stack.addresses);
    // Envoy's transcoder appends its x-envoy-original-method after any copy the client sent.
    const download = (methods: string[]) =>
      new Promise<{ headers: grpc.Metadata; messages: Array<{ contentType: string; data: Uint8Array }> }>((resolve, reject) => {
        const md = auth(token);
        for (const m of methods) md.add("x-envoy-original-method", m);
        const stream = clients.chunker.downloadFileContent({ fileId: file.fileId, offset: 0, length: 0, version: 0 }, md);
        let headers = new grpc.Metadata();
        const messages: Array<{ contentType: string; data: Uint8Array }> = [];
        stream.on("metadata", (m: grpc.Metadata) => (headers = m));
        stream.on("data", (m: { contentType: string; data: Uint8Array }) => messages.push(m));
        stream.on("error", reject);
        stream.on("end", () => resolve({ headers, messages }));
      });
    try {
      const head = await download(["HEAD"]);
      expect(head.headers.get("x-cfs-content-length")).toEqual(["12"]);
      expect(head.headers.get("content-disposition")).toEqual([`attachment; filename="f_r dich.txt"; filename*=UTF-8''f%C3%BCr%20dich.txt`]);
      expect(head.messages.map((m) => [m.contentType, m.data.length])).toEqual([["text/plain", 0]]);
      const spoofed = await download(["HEAD", "GET"]);
      expect(Buffer.concat(spoofed.messages.map((m) => m.data)).toString()).toBe("twelve bytes");
    } finally {
      clients.close();
    }
  });

  it("downloads a file whose stored content type no HTTP header may carry, and keeps serving", async () => {
    // gRPC takes any UTF-8 content type; Node refuses characters beyond Latin-1 in a header.
    const token = await stack.issuer!.userToken("carol-edge");
    const clients = clientsFor(stack.addresses);
    try {
      const file = await new Promise<File>((resolve, reject) => {
        const upload = clients.chunker.uploadFile(auth(token), (err, response) => (err ? reject(err) : resolve(response.file!)));
        upload.write({ payload: { $case: "metadata", value: { name: "odd-type.txt", contentType: "text/plain; note=日本", size: 5 } } });
        upload.write({ payload: { $case: "data", value: Buffer.from("hello") } });
        upload.end();
      });
      const download = await fetch(`${stack.edgeUrl}/v1/files/${file.fileId}/content`, { headers: { authorization: `Bearer ${token}` } });
      expect(download.status).toBe(200);
      expect(download.headers.get("content-type")).toBe("application/octet-stream");
      expect(await download.text()).toBe("hello");
      expect((await fetch(`${stack.edgeUrl}/healthz`)).status).toBe(200);
    } finally {
      clients.close();
    }
  });
});
