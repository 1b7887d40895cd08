import { createHash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import type { DownloadFileResponse } from "#gen/cfs/chunker/v1/chunker.js";
import type { File, FileChunk } from "#gen/cfs/metadata/v1/metadata.js";
import { integrityError } from "../errors.js";
import { noProgress } from "../progress.js";
import type { Connection } from "../rpc.js";
import { chunkFile } from "./chunk-file.js";

export interface DeltaResult {
  file: File;
  /** Bytes downloaded. */
  fetchedBytes: number;
  /** Bytes copied from the local copy. */
  reusedBytes: number;
}

/**
 * Writes the newest version of a remote file (as it was when asked for) into `temp` (a new file)
 * fetching only the chunks the local copy at `localPath` lacks: the local
 * copy is cut the way the server cuts (FastCDC), its chunks are matched by
 * hash against the remote chunk list, and the missing runs are downloaded as
 * byte ranges. The result is checked against the remote SHA-256 before the
 * caller renames it into place; a mismatch (the file changed meanwhile)
 * fails with an integrity error and the caller downloads it whole.
 */
export async function deltaDownload(conn: Connection, fileId: string, localPath: string, temp: string): Promise<DeltaResult> {
  const { file } = await conn.unary(conn.metadata.getFile.bind(conn.metadata), { fileId });
  if (!file) throw new Error("the metadata service answered without a file");
  const config = await conn.uploadConfig();
  const local = await chunkFile(localPath, config.chunkAvgBytes, noProgress, conn.signal);
  const have = new Map(local.chunks.map((c) => [c.sha256, c]));

  const source = await open(localPath, "r");
  const target = await open(temp, "wx");
  const hash = createHash("sha256");
  let fetchedBytes = 0;
  let reusedBytes = 0;
  let written = 0;
  try {
    let run: FileChunk[] = [];
    const fetchRun = async () => {
      if (run.length === 0) return;
      const offset = run[0]!.offset;
      const length = run.at(-1)!.offset + run.at(-1)!.size - offset;
      written += await downloadRange(conn, { fileId, version: file.version, offset, length }, target, written, hash);
      fetchedBytes += length;
      run = [];
    };
    let pageToken = "";
    do {
      const page = await conn.unary(conn.metadata.listFileChunks.bind(conn.metadata), { fileId, version: file.version, pageSize: 0, pageToken });
      for (const chunk of page.chunks) {
        const mine = have.get(chunk.sha256);
        if (!mine || mine.size !== chunk.size) {
          run.push(chunk);
          continue;
        }
        await fetchRun();
        const data = Buffer.allocUnsafe(chunk.size);
        const { bytesRead } = await source.read(data, 0, chunk.size, mine.offset);
        if (bytesRead !== chunk.size) throw integrityError("the local copy changed while it was read");
        hash.update(data);
        await writeAll(target, data, written);
        written += chunk.size;
        reusedBytes += chunk.size;
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    await fetchRun();
    if (written !== file.size) throw integrityError(`assembled ${written} bytes, expected ${file.size}`);
    const sha256 = hash.digest("hex");
    if (sha256 !== file.sha256) throw integrityError(`the assembled content hashes to ${sha256}, expected ${file.sha256}`);
    await target.sync();
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
  return { file, fetchedBytes, reusedBytes };
}

/**
 * Downloads one byte range of the version the chunk list came from (a newer
 * version committed meanwhile does not mix in) into the target at `at`,
 * hashing it in order; returns the bytes written.
 */
async function downloadRange(
  conn: Connection,
  range: { fileId: string; version: number; offset: number; length: number },
  target: FileHandle,
  at: number,
  hash: ReturnType<typeof createHash>,
): Promise<number> {
  const { length } = range;
  const call = conn.chunker.downloadFile(range, conn.auth);
  const release = conn.cancelOnAbort(call);
  let received = 0;
  try {
    for await (const message of call as AsyncIterable<DownloadFileResponse>) {
      if (message.payload?.$case !== "data") continue;
      const data = message.payload.value;
      received += data.length;
      if (received > length) throw integrityError(`received more than the ${length} bytes asked for`);
      hash.update(data);
      await writeAll(target, data, at + received - data.length);
    }
  } finally {
    release();
  }
  if (received !== length) throw integrityError(`received ${received} of ${length} bytes`);
  return received;
}

async function writeAll(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let offset = 0; offset < data.length; ) offset += (await handle.write(data, offset, data.length - offset, position + offset)).bytesWritten;
}
