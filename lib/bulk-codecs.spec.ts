import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DownloadFileResponse, PutChunksRequest as ChunkerPutChunksRequest, UploadFileContentRequest, UploadFileRequest, UploadFilesRequest } from "#gen/cfs/chunker/v1/chunker.js";
import { GetChunkResponse, PutChunksRequest as BlockPutChunksRequest, ReadChunksResponse } from "#gen/cfs/blockstore/v1/blockstore.js";
import { HttpBody } from "#gen/google/api/httpbody.js";
import {
  blockPutChunksRequestCodec,
  chunkerPutChunksRequestCodec,
  downloadFileResponseCodec,
  getChunkResponseCodec,
  httpBodyCodec,
  readChunksResponseCodec,
  uploadFileContentRequestCodec,
  uploadFileRequestCodec,
  uploadFilesRequestCodec,
} from "./bulk-codecs.js";
import { withHeadroom } from "./grpc-framing.js";

interface Generated<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

/**
 * Each codec must agree with the generated one both ways: what it encodes
 * the generated decoder reads back, and it reads what the generated encoder
 * wrote. A decoded payload must be a view of the received bytes (no copy).
 */
/** Byte fields replaced by their digest: deep equality over megabytes byte by byte is slow. */
function comparable(value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes ${value.length} ${createHash("sha256").update(value).digest("hex")}`;
  if (Array.isArray(value)) return value.map(comparable);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, comparable(v)]));
  }
  return value;
}

function agrees<T>(name: string, codec: { encode(m: T): Buffer; decode(b: Buffer): T }, generated: Generated<T>, samples: T[]) {
  describe(name, () => {
    it.each(samples.map((_, i) => i))("sample %i round-trips against the generated codec", (i) => {
      const sample = samples[i]!;
      const ours = codec.encode(sample);
      expect(comparable(generated.decode(ours))).toEqual(comparable(generated.decode(generated.encode(sample).finish())));
      const theirs = Buffer.from(generated.encode(sample).finish());
      expect(comparable(codec.decode(theirs))).toEqual(comparable(generated.decode(theirs)));
    });
  });
}

const data = randomBytes(70_000);
const big = randomBytes(3 * 1024 * 1024);

agrees("UploadFileRequest", uploadFileRequestCodec, UploadFileRequest, [
  { payload: { $case: "data", value: data } },
  { payload: { $case: "data", value: Buffer.alloc(0) } },
  { payload: { $case: "metadata", value: { name: "a/b.txt", size: 12, sha256: "ab".repeat(32), contentType: "text/plain", idempotencyKey: "k1" } } },
  { payload: { $case: "finish", value: {} } },
  { payload: undefined },
]);

agrees("UploadFilesRequest", uploadFilesRequestCodec, UploadFilesRequest, [
  { payload: { $case: "data", value: data } },
  { payload: { $case: "file", value: { name: "a/b.txt", size: 12, sha256: "ab".repeat(32), contentType: "text/plain", idempotencyKey: "k1" } } },
  { payload: { $case: "file", value: { name: "empty", size: 0, contentType: "" } } },
  { payload: { $case: "finish", value: {} } },
  { payload: undefined },
]);

agrees("DownloadFileResponse", downloadFileResponseCodec, DownloadFileResponse, [
  { payload: { $case: "data", value: big } },
  { payload: { $case: "file", value: { fileId: "f", name: "n", size: 3, sha256: "s", contentType: "", numChunks: 1, version: 2, createdAt: new Date(5000), updatedAt: undefined } } },
]);

agrees("HttpBody", httpBodyCodec, HttpBody, [
  { contentType: "image/png", data, extensions: [] },
  { contentType: "", data: Buffer.alloc(0), extensions: [] },
  { contentType: "x", data, extensions: [{ typeUrl: "type.googleapis.com/x", value: Buffer.from([1, 2]) }] },
]);

agrees("UploadFileContentRequest", uploadFileContentRequestCodec, UploadFileContentRequest, [
  { name: "", content: { contentType: "", data, extensions: [] } },
  { name: "photo.jpg", size: 2 ** 40, sha256: "cd".repeat(32), idempotencyKey: "key", content: { contentType: "image/jpeg", data, extensions: [] } },
  { name: "", content: undefined },
]);

agrees("ChunkerService PutChunksRequest", chunkerPutChunksRequestCodec, ChunkerPutChunksRequest, [
  { uploadId: "0f0e", index: 0, content: { contentType: "", data, extensions: [] } },
  { uploadId: "", index: 123456, content: { contentType: "application/octet-stream", data: big, extensions: [] } },
  { uploadId: "", content: { contentType: "", data, extensions: [] } },
  { uploadId: "x", index: -1, content: undefined },
]);

agrees("BlockStorageService PutChunksRequest", blockPutChunksRequestCodec, BlockPutChunksRequest, [
  { payload: { $case: "data", value: big } },
  { payload: { $case: "header", value: { sha256: "ef".repeat(32), size: 3, owner: "alice" } } },
]);

agrees("ReadChunksResponse", readChunksResponseCodec, ReadChunksResponse, [
  { index: 0, data },
  { index: 999, data: big },
  { index: 3, data: Buffer.alloc(0) },
]);

agrees("GetChunkResponse", getChunkResponseCodec, GetChunkResponse, [{ data }, { data: Buffer.alloc(0) }]);

describe("zero copy", () => {
  it("decodes a payload as a view of the received message", () => {
    const encoded = uploadFileRequestCodec.encode({ payload: { $case: "data", value: data } });
    const decoded = uploadFileRequestCodec.decode(encoded);
    if (decoded.payload?.$case !== "data") throw new Error("expected data");
    expect(decoded.payload.value.buffer).toBe(encoded.buffer);
    const batchEncoded = uploadFilesRequestCodec.encode({ payload: { $case: "data", value: data } });
    const batchDecoded = uploadFilesRequestCodec.decode(batchEncoded);
    if (batchDecoded.payload?.$case !== "data") throw new Error("expected data");
    expect(batchDecoded.payload.value.buffer).toBe(batchEncoded.buffer);
    const body = chunkerPutChunksRequestCodec.decode(chunkerPutChunksRequestCodec.encode({ uploadId: "u", index: 1, content: { contentType: "", data, extensions: [] } }));
    expect(body.content!.data.equals(data)).toBe(true);
  });

  it("encodes a payload with headroom in place: the message is written around it, the same bytes as the generated encoder's", () => {
    const withRoom = (bytes: Buffer) => {
      const payload = withHeadroom(bytes.length);
      bytes.copy(payload);
      return payload;
    };
    const chunk = withRoom(big);
    const put = blockPutChunksRequestCodec.encode({ payload: { $case: "data", value: chunk } });
    expect(put.buffer).toBe(chunk.buffer);
    expect(put.equals(Buffer.from(BlockPutChunksRequest.encode({ payload: { $case: "data", value: big } }).finish()))).toBe(true);

    const read = withRoom(data);
    const response = readChunksResponseCodec.encode({ index: 999, data: read });
    expect(response.buffer).toBe(read.buffer);
    expect(response.equals(Buffer.from(ReadChunksResponse.encode({ index: 999, data }).finish()))).toBe(true);
    // Sent again (its headroom is spent): copied, still the same bytes.
    const again = readChunksResponseCodec.encode({ index: 999, data: read });
    expect(again.buffer).not.toBe(read.buffer);
    expect(again.equals(response)).toBe(true);

    // A payload inside an HttpBody inside the request: both messages' headers written in front of it.
    const content = (bytes: Buffer) => ({ contentType: "", data: bytes, extensions: [] });
    const frame = withRoom(data);
    const session = chunkerPutChunksRequestCodec.encode({ uploadId: "", index: 7, content: content(frame) });
    expect(session.buffer).toBe(frame.buffer);
    expect(session.equals(Buffer.from(ChunkerPutChunksRequest.encode({ uploadId: "", index: 7, content: content(data) }).finish()))).toBe(true);
    const body = withRoom(data);
    const raw = uploadFileContentRequestCodec.encode({ name: "", content: content(body) });
    expect(raw.buffer).toBe(body.buffer);
    expect(raw.equals(Buffer.from(UploadFileContentRequest.encode({ name: "", content: content(data) }).finish()))).toBe(true);
    // Without headroom: copied into the one buffer of the whole message, the same bytes.
    const copied = chunkerPutChunksRequestCodec.encode({ uploadId: "", content: content(data) });
    expect(copied.equals(Buffer.from(ChunkerPutChunksRequest.encode({ uploadId: "", content: content(data) }).finish()))).toBe(true);
  });

  it("sends a chunk received from block storage on to the client in place: the download message's headers go where the received one's were", () => {
    /** A ReadChunksResponse as grpc-js hands it to the deserializer: alone in its memory behind its 5-byte frame header. */
    const received = (index: number) => {
      const encoded = Buffer.from(ReadChunksResponse.encode({ index, data: big }).finish());
      const frame = Buffer.allocUnsafeSlow(5 + encoded.length);
      encoded.copy(frame, 5);
      return readChunksResponseCodec.decode(frame.subarray(5)).data;
    };
    const expected = (value: Buffer) => Buffer.from(DownloadFileResponse.encode({ payload: { $case: "data", value } }).finish());
    for (const index of [0, 999]) {
      const chunk = received(index);
      const whole = downloadFileResponseCodec.encode({ payload: { $case: "data", value: chunk } });
      expect(whole.buffer).toBe(chunk.buffer);
      expect(whole.equals(expected(big))).toBe(true);
    }
    // Sent in frames: the first in place, the next copied (the first may still be on its way, right in front of it).
    const chunk = received(1);
    const [first, second] = [chunk.subarray(0, 1000), chunk.subarray(1000)].map((value) => downloadFileResponseCodec.encode({ payload: { $case: "data", value } }));
    expect(first!.buffer).toBe(chunk.buffer);
    expect(first!.equals(expected(big.subarray(0, 1000)))).toBe(true);
    expect(second!.buffer).not.toBe(chunk.buffer);
    expect(second!.equals(expected(big.subarray(1000)))).toBe(true);
  });

  it("refuses an int64 size beyond the safe integer range", () => {
    const encoded = Buffer.from(UploadFileContentRequest.encode({ name: "x", size: Number.MAX_SAFE_INTEGER, content: undefined }).finish());
    expect(uploadFileContentRequestCodec.decode(encoded).size).toBe(Number.MAX_SAFE_INTEGER);
    // 2^63 - 1, written by hand: ts-proto cannot encode it from a number.
    const tooBig = Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    expect(() => uploadFileContentRequestCodec.decode(tooBig)).toThrow(/safe integer/);
  });
});
