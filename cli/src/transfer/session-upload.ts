import { once } from "node:events";
import { open, type FileHandle } from "node:fs/promises";
import type { ClientWritableStream } from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { IndexRange, PutChunksRequest, PutChunksResponse, Upload } from "#gen/cfs/chunker/v1/chunker.js";
import type { File } from "#gen/cfs/metadata/v1/metadata.js";
import { isServiceError } from "#lib/errors.js";
import { withHeadroom } from "#lib/grpc-framing.js";
import type { Connection } from "../rpc.js";
import type { ChunkedFile, LocalChunk } from "./chunk-file.js";

/** Bytes per PutChunks call: the unit of progress the server confirms (and of what a crash can lose). */
const BATCH_BYTES = 16 * 1024 * 1024;
/** Bytes per message (a message may hold the end of one chunk and the start of the next). */
const FRAME_BYTES = 1024 * 1024;

export interface SessionUpload {
  name: string;
  contentType: string;
  /** The local file and its chunk list. */
  path: string;
  chunked: ChunkedFile;
  /** A session to resume; a stale one (expired, another user's) is replaced by a new one. */
  resumeId: string | undefined;
  /** Called with the session id once it exists, before any byte is sent (to remember it). */
  onSession(uploadId: string): Promise<void>;
  /** Bytes confirmed stored by each PutChunks call. */
  onSent(bytes: number): void;
  /** How much the server had already, once known. */
  onPlan(plan: { missingBytes: number; storedBytes: number; resumed: boolean }): void;
}

/**
 * Uploads a file through an upload session: declares its chunk list, sends
 * only the chunks the server lacks (a run of consecutive chunks per call),
 * then commits. Resumes `resumeId` when it is still open.
 */
export async function uploadBySession(conn: Connection, upload: SessionUpload): Promise<File> {
  const { chunked } = upload;
  let opened = upload.resumeId ? await resume(conn, upload.resumeId) : undefined;
  if (opened?.upload.file) return opened.upload.file;
  if (opened && !sameList(opened.upload, upload)) opened = undefined;
  const resumed = opened !== undefined;
  opened ??= await start(conn, upload);
  const { uploadId } = opened.upload;
  if (!resumed) await upload.onSession(uploadId);
  const missingBytes = bytesIn(chunked.chunks, opened.missing);
  upload.onPlan({ missingBytes, storedBytes: chunked.size - missingBytes, resumed });

  const handle = await open(upload.path, "r");
  try {
    for (const range of opened.missing) {
      for (let i = range.start; i < range.start + range.count; ) {
        let end = i + 1;
        let bytes = chunked.chunks[i]!.size;
        while (end < range.start + range.count && bytes + chunked.chunks[end]!.size <= BATCH_BYTES) bytes += chunked.chunks[end++]!.size;
        await putRun(conn, uploadId, handle, chunked.chunks.slice(i, end));
        upload.onSent(bytes);
        i = end;
      }
    }
  } finally {
    await handle.close();
  }
  return retryOnce(() => conn.unary(conn.chunker.finishUpload.bind(conn.chunker), { uploadId })).then(fileOf);
}

/** The open session and what it still misses, or undefined when it is gone (expired, committed long ago, unknown). */
async function resume(conn: Connection, uploadId: string): Promise<{ upload: Upload; missing: IndexRange[] } | undefined> {
  try {
    const { upload, missing } = await conn.unary(conn.chunker.getUpload.bind(conn.chunker), { uploadId });
    return upload ? { upload, missing } : undefined;
  } catch (err) {
    if (isServiceError(err) && err.code === GrpcStatus.NOT_FOUND) return undefined;
    throw err;
  }
}

function sameList(session: Upload, upload: SessionUpload): boolean {
  return session.size === upload.chunked.size && session.chunkCount === upload.chunked.chunks.length && session.chunksDeclared === session.chunkCount;
}

async function start(conn: Connection, upload: SessionUpload): Promise<{ upload: Upload; missing: IndexRange[] }> {
  const { chunked } = upload;
  const pageSize = 1000;
  const page = (from: number) => chunked.chunks.slice(from, from + pageSize).map((c) => ({ sha256: c.sha256, size: c.size }));
  const started = await conn.unary(conn.chunker.startUpload.bind(conn.chunker), {
    name: upload.name,
    contentType: upload.contentType,
    size: chunked.size,
    sha256: chunked.sha256,
    chunkCount: chunked.chunks.length,
    chunks: page(0),
  });
  const session = started.upload!;
  const missing = [...started.missing];
  for (let from = pageSize; from < chunked.chunks.length; from += pageSize) {
    // Declaring a page again is harmless, so a lost reply is simply retried.
    const declared = await retryOnce(() =>
      conn.unary(conn.chunker.declareChunks.bind(conn.chunker), { uploadId: session.uploadId, firstIndex: from, chunks: page(from) }),
    );
    missing.push(...declared.missing);
  }
  return { upload: session, missing: mergeRanges(missing) };
}

/** Streams consecutive chunks of the file in one PutChunks call and waits for the server to confirm them stored. */
async function putRun(conn: Connection, uploadId: string, handle: FileHandle, run: readonly LocalChunk[]): Promise<void> {
  let call!: ClientWritableStream<PutChunksRequest>;
  const response = new Promise<PutChunksResponse>((resolve, reject) => {
    call = conn.chunker.putChunks(conn.auth, {}, (err, reply) => (err ? reject(err) : resolve(reply)));
  });
  response.catch(() => undefined);
  const release = conn.cancelOnAbort(call);
  try {
    const first = run[0]!;
    const end = run.at(-1)!.offset + run.at(-1)!.size;
    for (let offset = first.offset; offset < end; ) {
      const length = Math.min(FRAME_BYTES, end - offset);
      // Read with room in front: the request's and its HttpBody's headers are written there, not the bytes copied.
      const data = withHeadroom(length);
      const { bytesRead } = await handle.read(data, 0, length, offset);
      if (bytesRead !== length) throw new Error(`${length - bytesRead} bytes of the file vanished while it was uploaded`);
      const message: PutChunksRequest =
        offset === first.offset
          ? { uploadId, index: first.index, content: { contentType: "", data, extensions: [] } }
          : { uploadId: "", content: { contentType: "", data, extensions: [] } };
      if (!call.write(message)) await Promise.race([once(call, "drain"), response]);
      offset += length;
    }
    call.end();
    await response;
  } catch (err) {
    call.cancel();
    throw err;
  } finally {
    release();
  }
}

function fileOf(response: { file?: File | undefined }): File {
  if (!response.file) throw new Error("the chunker answered without a file");
  return response.file;
}

function bytesIn(chunks: readonly LocalChunk[], ranges: readonly IndexRange[]): number {
  let bytes = 0;
  for (const { start, count } of ranges) for (let i = start; i < start + count; i++) bytes += chunks[i]!.size;
  return bytes;
}

/** Adjacent ranges (page boundaries split runs) joined. */
function mergeRanges(ranges: readonly IndexRange[]): IndexRange[] {
  const merged: IndexRange[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && last.start + last.count === range.start) last.count += range.count;
    else merged.push({ ...range });
  }
  return merged;
}

/** Idempotent calls are tried once more after a transient failure (a lost reply, a restarting server). */
async function retryOnce<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!isServiceError(err) || (err.code !== GrpcStatus.UNAVAILABLE && err.code !== GrpcStatus.DEADLINE_EXCEEDED)) throw err;
    await new Promise((resolve) => setTimeout(resolve, 500));
    return call();
  }
}
