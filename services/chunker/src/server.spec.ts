import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { UploadFilesRequest } from "#gen/cfs/chunker/v1/chunker.js";
import type { RequestContext } from "#lib/grpc-server.js";
import { createLogger } from "#lib/logger.js";
import { writeResponses, type ResponseSink } from "#lib/response-stream.js";
import { ContentHashes } from "./domain/content-hash.js";
import { Downloader } from "./domain/download.js";
import { fakes } from "./domain/fakes.spec-support.js";
import { UploadSessions } from "./domain/sessions.js";
import { Uploader } from "./domain/upload.js";
import { createHandlers } from "./server.js";

const KiB = 1024;

/** The chunker's handlers over the fakes, and the lines they log. */
function setUp() {
  const f = fakes();
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger("chunker", "info", { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const handlers = createHandlers(
    new Uploader(f.blocks, f.catalogue, { chunkAvgBytes: 64 * KiB, chunksPerBatch: 4, maxFileBytes: 4 * 1024 * KiB }),
    new Downloader(f.blocks, f.catalogue, 5_000),
    new UploadSessions(f.sessions, f.blocks, new ContentHashes(1), 4 * 1024 * KiB),
    { chunkAvgBytes: 64 * KiB, chunkMinBytes: 16 * KiB, chunkMaxBytes: 256 * KiB, maxFileBytes: 4 * 1024 * KiB, maxChunksPerPage: 1000 },
  );
  const ctx = { token: "t", requestId: "r", log, deadline: new Date(Date.now() + 60_000), signal: new AbortController().signal } as unknown as RequestContext;
  return { f, lines, handlers, ctx };
}

async function* stream(messages: UploadFilesRequest[]): AsyncGenerator<UploadFilesRequest> {
  yield* messages;
}

const fileMsg = (name: string, size: number): UploadFilesRequest => ({ payload: { $case: "file", value: { name, contentType: "", size } } });
const dataMsg = (data: Buffer): UploadFilesRequest => ({ payload: { $case: "data", value: data } });
const finishMsg: UploadFilesRequest = { payload: { $case: "finish", value: {} } };

describe("uploadFiles", () => {
  it("commits the stream's files in one batch, answers them in order and logs the batch once", async () => {
    const { f, lines, handlers, ctx } = setUp();
    const a = randomBytes(100 * KiB);
    const b = randomBytes(3);
    const response = await handlers.uploadFiles(
      stream([fileMsg("a", a.length), dataMsg(a.subarray(0, 1000)), dataMsg(a.subarray(1000)), fileMsg("b", 3), dataMsg(b), finishMsg]),
      ctx,
    );
    expect(response.files.map((file) => [file.name, file.size])).toEqual([
      ["a", a.length],
      ["b", 3],
    ]);
    expect(f.batchCommits).toHaveLength(1);
    expect(lines.filter((l) => l.msg === "batch committed").map((l) => [l.files, l.bytes])).toEqual([[2, a.length + 3]]);
  });

  it("commits nothing for a stream that ends without finish, and releases what it sent", async () => {
    const { f, handlers, ctx } = setUp();
    const a = randomBytes(10 * KiB);
    await expect(handlers.uploadFiles(stream([fileMsg("a", a.length), dataMsg(a)]), ctx)).rejects.toMatchObject({
      kind: "invalid-argument",
      message: "the UploadFiles stream ended without its finish message",
    });
    expect(f.batchCommits).toEqual([]);
    expect(f.sends.length).toBeGreaterThan(0);
    expect(new Set(f.released)).toEqual(new Set(f.sends));
  });

  it("names the file whose bytes do not match its declared size", async () => {
    const { f, handlers, ctx } = setUp();
    await expect(handlers.uploadFiles(stream([fileMsg("a", 1), dataMsg(Buffer.from("x")), fileMsg("b", 10), dataMsg(Buffer.alloc(9)), finishMsg]), ctx)).rejects.toMatchObject({
      kind: "invalid-argument",
      message: "files[1]: declared size 10 but received 9 bytes",
    });
    expect(f.batchCommits).toEqual([]);
  });
});

describe("downloadFile", () => {
  it("releases each chunk read once the message that ends it is written out, not before", async () => {
    const f = fakes();
    const released: Buffer[] = [];
    const handlers = createHandlers(
      new Uploader(f.blocks, f.catalogue, { chunkAvgBytes: 64 * KiB, chunksPerBatch: 4, maxFileBytes: 4 * 1024 * KiB }),
      new Downloader(f.blocks, f.catalogue, 5_000),
      new UploadSessions(f.sessions, f.blocks, new ContentHashes(1), 4 * 1024 * KiB),
      { chunkAvgBytes: 64 * KiB, chunkMinBytes: 16 * KiB, chunkMaxBytes: 256 * KiB, maxFileBytes: 4 * 1024 * KiB, maxChunksPerPage: 1000 },
      { releaseChunk: (chunk) => released.push(chunk) },
    );
    const { ctx } = setUp();
    const data = randomBytes(300 * KiB);
    const [file] = (await handlers.uploadFiles(stream([fileMsg("a.bin", data.length), dataMsg(data), finishMsg]), ctx)).files;
    const chunks = f.batchCommits[0]![0]!.chunks;
    // A sink that writes each message at once, noting how many chunks were released as it was handed on and once it was written.
    const handedOn: number[] = [];
    const afterWrite: number[] = [];
    const sink: ResponseSink = {
      write: (_message, written) => {
        handedOn.push(released.length);
        written();
        afterWrite.push(released.length);
      },
    };
    await writeResponses(sink, handlers.downloadFile({ fileId: file!.fileId, offset: 0, length: 0, version: 0 }, ctx), new AbortController().signal);
    expect(released.map((chunk) => chunk.length)).toEqual(chunks.map((c) => c.size));
    expect(Buffer.concat(released).equals(data)).toBe(true);
    // Released only in a write's callback, never while a message is made or waits to be written.
    expect(handedOn.slice(1)).toEqual(afterWrite.slice(0, -1));
  });
});
