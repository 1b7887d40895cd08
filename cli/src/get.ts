import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { DownloadFileResponse } from "#gen/cfs/chunker/v1/chunker.js";
import type { File } from "#gen/cfs/metadata/v1/metadata.js";
import { integrityError, usageError } from "./errors.js";
import type { Progress } from "./progress.js";
import type { Connection } from "./rpc.js";

export interface GetRequest {
  fileId: string;
  /** A path, a directory, "-" for stdout, or undefined for the file's base name here. */
  output: string | undefined;
  offset: number;
  /** 0 means to the end of the file. */
  length: number;
  /** 0 means the newest. */
  version?: number | undefined;
}

/** Where downloaded bytes go: committed only after they were verified. */
interface Sink {
  write(data: Buffer): Promise<void>;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/**
 * Streams the newest version of a file, or the one asked for (or a range of it), to a temporary
 * file beside the target, checks what arrived against the `file` message,
 * and only then renames it into place: an interrupted or corrupt download
 * never replaces the target. Returns the `file` message (the version sent).
 */
export async function get(
  conn: Connection,
  request: GetRequest,
  progress: (label: string) => Progress,
  stdout: NodeJS.WritableStream,
): Promise<File> {
  const call = conn.chunker.downloadFile({ fileId: request.fileId, offset: request.offset, length: request.length, version: request.version ?? 0 }, conn.auth);
  const release = conn.cancelOnAbort(call);
  const bar = progress("downloading");
  let sink: Sink | undefined;
  let file: File | undefined;
  let expected: { bytes: number; sha256: string | undefined } | undefined;
  const hash = createHash("sha256");
  let received = 0;
  try {
    for await (const message of call as AsyncIterable<DownloadFileResponse>) {
      const payload = message.payload;
      if (payload?.$case === "file") {
        if (sink) throw new Error("the chunker sent a second file message");
        file = payload.value;
        expected = expectedContent(payload.value, request);
        bar.setTotal(expected.bytes);
        sink = request.output === "-" ? stdoutSink(stdout) : await tempFileSink(await targetPath(request.output, payload.value.name));
      } else if (payload?.$case === "data") {
        if (!sink || !expected) throw new Error("the chunker sent data before the file message");
        received += payload.value.length;
        if (received > expected.bytes) throw integrityError(`received more than the expected ${expected.bytes} bytes`);
        hash.update(payload.value);
        await sink.write(payload.value);
        bar.add(payload.value.length);
      }
    }
    if (!sink || !expected || !file) throw new Error("the download ended before the file message");
    if (received !== expected.bytes) throw integrityError(`received ${received} bytes, expected ${expected.bytes}`);
    const sha256 = hash.digest("hex");
    if (expected.sha256 !== undefined && sha256 !== expected.sha256) {
      throw integrityError(`the content hashes to ${sha256}, expected ${expected.sha256}`);
    }
    await sink.commit();
    bar.finish();
    return file;
  } catch (err) {
    bar.abandon();
    call.cancel();
    await sink?.discard();
    throw err;
  } finally {
    release();
  }
}

/** How many bytes the range holds, and the hash to check when it is the whole file. */
function expectedContent(file: File, request: GetRequest): { bytes: number; sha256: string | undefined } {
  const end = request.length === 0 ? file.size : Math.min(file.size, request.offset + request.length);
  const bytes = Math.max(end - request.offset, 0);
  return { bytes, sha256: request.offset === 0 && end === file.size ? file.sha256 : undefined };
}

/** The local path: as given, inside it when it is a directory, else the remote base name here. */
async function targetPath(output: string | undefined, remoteName: string): Promise<string> {
  const isDirectory = output !== undefined && (await stat(output).catch(() => undefined))?.isDirectory() === true;
  if (output !== undefined && !isDirectory) return output;
  // The name comes from the server: never let it point outside the directory.
  const name = basename(remoteName);
  if (name === "" || name === "." || name === ".." || name.includes("\0")) {
    throw usageError(`get: no local file name can be made from "${remoteName}"; use -o PATH`);
  }
  return join(output ?? ".", name);
}

async function tempFileSink(target: string): Promise<Sink> {
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString("hex")}.cfs-part`);
  // "wx": never reuse or clobber an existing file of that name.
  const handle: FileHandle = await open(temp, "wx");
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await handle.close();
    }
  };
  return {
    async write(data) {
      // A write may be short; loop until every byte is down.
      for (let offset = 0; offset < data.length; ) offset += (await handle.write(data, offset)).bytesWritten;
    },
    async commit() {
      // Flushed before the rename, so a crash cannot leave the target
      // renamed into place but empty.
      await handle.sync();
      await close();
      await rename(temp, target);
    },
    async discard() {
      await close().catch(() => undefined);
      await rm(temp, { force: true });
    },
  };
}

function stdoutSink(stdout: NodeJS.WritableStream): Sink {
  return {
    async write(data) {
      if (!stdout.write(data)) await once(stdout, "drain");
    },
    // Bytes already written cannot be taken back; the exit code tells.
    commit: async () => undefined,
    discard: async () => undefined,
  };
}
