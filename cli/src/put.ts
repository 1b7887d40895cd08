import { createHash } from "node:crypto";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import type { ClientWritableStream } from "@grpc/grpc-js";
import type { UploadFileRequest, UploadFileResponse, UploadFilesRequest, UploadFilesResponse, UploadMetadata } from "#gen/cfs/chunker/v1/chunker.js";
import type { File } from "#gen/cfs/metadata/v1/metadata.js";
import { CliError, ExitCode, integrityError, usageError } from "./errors.js";
import { formatBytes } from "#lib/bytes.js";
import type { Progress } from "./progress.js";
import type { Connection } from "./rpc.js";
import { chunkFile } from "./transfer/chunk-file.js";
import { uploadBySession } from "./transfer/session-upload.js";
import type { LocalVersion, UploadState } from "./transfer/upload-state.js";

/** Bytes per data message, and per read from the file. */
export const FRAME_BYTES = 256 * 1024;

export interface PutRequest {
  path: string;
  name: string;
  contentType: string;
  /** Hash the file first and declare the hash, so the server refuses other content. */
  verify: boolean;
}

export interface PutOutcome {
  file: File;
  /** Content bytes that travelled. */
  sentBytes: number;
  /** Content bytes the server had already (not sent). */
  storedBytes: number;
  /** Whether an interrupted upload of this file was resumed. */
  resumed: boolean;
}

/**
 * Uploads a local file and returns the committed file. A file smaller than
 * the server's smallest chunk is one chunk: it is streamed in one call. A
 * larger one goes through an upload session: cut and hashed here the way the
 * server cuts (FastCDC), only the chunks the server lacks are sent, and a
 * rerun after an interruption resumes the session (remembered in `state`).
 * The declared size and hash make the server refuse content that changed
 * while it was read; the reply is then checked against what was read.
 */
export async function put(
  conn: Connection,
  request: PutRequest,
  progress: (label: string, total: number) => Progress,
  state: UploadState,
): Promise<PutOutcome> {
  const info = await stat(request.path);
  if (!info.isFile()) throw usageError(`put: ${request.path} is not a regular file`);
  const config = await conn.uploadConfig();
  if (info.size < config.chunkMinBytes) {
    const sha256 = request.verify ? await hashFile(request.path, progress("hashing", info.size), conn.signal) : undefined;
    const bar = progress("uploading", info.size);
    try {
      const { file, sent } = await upload(conn, { name: request.name, contentType: request.contentType, size: info.size, sha256 }, request.path, bar);
      checkReply(file, sent);
      bar.finish();
      return { file, sentBytes: sent.size, storedBytes: 0, resumed: false };
    } catch (err) {
      bar.abandon();
      throw err;
    }
  }

  const version: LocalVersion = { path: await realpath(request.path), size: info.size, mtimeMs: info.mtimeMs, ino: info.ino };
  const remembered = await state.lookup(version, config.chunkAvgBytes);
  let chunked = remembered?.chunked;
  if (!chunked) {
    const scan = progress("scanning", info.size);
    try {
      chunked = await chunkFile(request.path, config.chunkAvgBytes, scan, conn.signal);
      scan.finish();
    } catch (err) {
      scan.abandon();
      throw err;
    }
  }
  const listed = chunked;
  let bar: Progress | undefined;
  let sentBytes = 0;
  let storedBytes = 0;
  let resumed = false;
  try {
    const file = await uploadBySession(conn, {
      name: request.name,
      contentType: request.contentType,
      path: request.path,
      chunked: listed,
      resumeId: remembered?.uploadId,
      onSession: (uploadId) => state.remember(version, config.chunkAvgBytes, listed, uploadId),
      onPlan: (plan) => {
        storedBytes = plan.storedBytes;
        resumed = plan.resumed;
        bar = progress(plan.resumed ? "resuming" : "uploading", plan.missingBytes);
      },
      onSent: (bytes) => {
        sentBytes += bytes;
        bar?.add(bytes);
      },
    });
    checkReply(file, listed);
    bar?.finish();
    // Committed: the chunk list stays (an unchanged file is not read again), the session goes.
    await state.remember(version, config.chunkAvgBytes, listed, undefined);
    return { file, sentBytes, storedBytes, resumed };
  } catch (err) {
    bar?.abandon();
    throw err;
  }
}

/** A local file of a batch and the name it gets. */
export interface BatchEntry {
  path: string;
  name: string;
  contentType: string;
}

/**
 * Uploads small files (each below the server's smallest chunk, so each is
 * one chunk: there is nothing to deduplicate by asking first) in one
 * UploadFiles call: read whole, each declared with its size and hash, and
 * committed together — all of them or none. The caller keeps a batch within
 * MAX_FILES_PER_BATCH files and MAX_BATCH_BYTES.
 */
export async function putBatch(conn: Connection, entries: readonly BatchEntry[]): Promise<File[]> {
  const contents = await Promise.all(entries.map((e) => readFile(e.path)));
  const sent: Sent[] = contents.map((data) => ({ size: data.length, sha256: createHash("sha256").update(data).digest("hex") }));
  let call!: ClientWritableStream<UploadFilesRequest>;
  const response = new Promise<UploadFilesResponse>((resolve, reject) => {
    call = conn.chunker.uploadFiles(conn.auth, {}, (err, reply) => (err ? reject(err) : resolve(reply)));
  });
  const release = conn.cancelOnAbort(call);
  try {
    for (const [i, entry] of entries.entries()) {
      call.write({ payload: { $case: "file", value: { name: entry.name, contentType: entry.contentType, ...sent[i]! } } });
      if (contents[i]!.length > 0 && !call.write({ payload: { $case: "data", value: contents[i]! } })) {
        await Promise.race([once(call, "drain"), response]);
      }
    }
    call.write({ payload: { $case: "finish", value: {} } });
    call.end();
    const { files } = await response;
    if (files.length !== entries.length) throw new Error(`the chunker answered ${files.length} files for ${entries.length}`);
    files.forEach((file, i) => checkReply(file, sent[i]!));
    return files;
  } catch (err) {
    call.cancel();
    throw err;
  } finally {
    release();
  }
}

/** "sent 1.20 MB, 63.0 MB already stored" — the same words as the web page. */
export function transferSummary(outcome: PutOutcome): string {
  const resumed = outcome.resumed ? " (resumed)" : "";
  return `sent ${formatBytes(outcome.sentBytes)}, ${formatBytes(outcome.storedBytes)} already stored${resumed}`;
}

function checkReply(file: File, sent: Sent): void {
  if (file.size !== sent.size || file.sha256 !== sent.sha256) {
    throw integrityError(`the server stored ${file.size} bytes with sha256 ${file.sha256}, but ${sent.size} bytes with sha256 ${sent.sha256} were sent`);
  }
}

async function hashFile(path: string, progress: Progress, signal: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  try {
    for await (const frame of createReadStream(path, { highWaterMark: FRAME_BYTES }) as AsyncIterable<Buffer>) {
      if (signal.aborted) throw new CliError(ExitCode.interrupted, "interrupted");
      hash.update(frame);
      progress.add(frame.length);
    }
  } catch (err) {
    progress.abandon();
    throw err;
  }
  progress.finish();
  return hash.digest("hex");
}

interface Sent {
  size: number;
  sha256: string;
}

async function upload(conn: Connection, header: UploadMetadata, path: string, progress: Progress): Promise<{ file: File; sent: Sent }> {
  let call!: ClientWritableStream<UploadFileRequest>;
  const response = new Promise<UploadFileResponse>((resolve, reject) => {
    call = conn.chunker.uploadFile(conn.auth, {}, (err, reply) => (err ? reject(err) : resolve(reply)));
  });
  // The server may answer (with an error) before we finish sending: stop
  // reading then instead of streaming the rest of the file into a dead call.
  let answered = false;
  response.then(
    () => (answered = true),
    () => (answered = true),
  );
  const release = conn.cancelOnAbort(call);
  const hash = createHash("sha256");
  let size = 0;
  try {
    call.write({ payload: { $case: "metadata", value: header } });
    for await (const frame of createReadStream(path, { highWaterMark: FRAME_BYTES }) as AsyncIterable<Buffer>) {
      if (answered) break;
      hash.update(frame);
      size += frame.length;
      if (!call.write({ payload: { $case: "data", value: frame } })) {
        // Read no further until gRPC flushed its buffer: memory stays
        // bounded however slow the network is.
        await Promise.race([once(call, "drain"), response]);
      }
      progress.add(frame.length);
    }
    if (!answered) call.write({ payload: { $case: "finish", value: {} } });
    call.end();
    const { file } = await response;
    if (!file) throw new Error("the chunker answered without a file");
    return { file, sent: { size, sha256: hash.digest("hex") } };
  } catch (err) {
    // After a local failure (unreadable file, Ctrl-C) the server must not
    // wait for the rest; the CANCELLED this causes is not the error to report.
    call.cancel();
    throw err;
  } finally {
    release();
  }
}
