import { createHash } from "node:crypto";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { ClientWritableStream } from "@grpc/grpc-js";
import type { UploadFileRequest, UploadFileResponse, UploadMetadata } from "#gen/cfs/chunker/v1/chunker.js";
import type { File } from "#gen/cfs/metadata/v1/metadata.js";
import { CliError, ExitCode, integrityError, usageError } from "./errors.js";
import type { Progress } from "./progress.js";
import type { Connection } from "./rpc.js";

/** Bytes per data message, and per read from the file. */
export const FRAME_BYTES = 256 * 1024;

export interface PutRequest {
  path: string;
  name: string;
  contentType: string;
  /** Hash the file first and declare the hash, so the server refuses other content. */
  verify: boolean;
}

/**
 * Uploads a local file and returns the committed file. The declared size
 * (and hash, unless verify is off) make the server reject content that
 * changed while it was read; the reply is then checked against what we sent.
 */
export async function put(conn: Connection, request: PutRequest, progress: (label: string, total: number) => Progress): Promise<File> {
  const info = await stat(request.path);
  if (!info.isFile()) throw usageError(`put: ${request.path} is not a regular file`);
  const sha256 = request.verify ? await hashFile(request.path, progress("hashing", info.size), conn.signal) : undefined;
  const header: UploadMetadata = { name: request.name, contentType: request.contentType, size: info.size, sha256 };

  const bar = progress("uploading", info.size);
  try {
    const { file, sent } = await upload(conn, header, request.path, bar);
    if (file.size !== sent.size || file.sha256 !== sent.sha256) {
      throw integrityError(
        `the server stored ${file.size} bytes with sha256 ${file.sha256}, but ${sent.size} bytes with sha256 ${sent.sha256} were sent`,
      );
    }
    bar.finish();
    return file;
  } catch (err) {
    bar.abandon();
    throw err;
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
