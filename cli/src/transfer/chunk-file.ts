import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { FastCdcCutter } from "#lib/fastcdc.js";
import { CliError, ExitCode } from "../errors.js";
import type { Progress } from "../progress.js";

/** One chunk of a local file, cut the way the server cuts (FastCDC, lib/fastcdc.ts). */
export interface LocalChunk {
  index: number;
  offset: number;
  size: number;
  sha256: string;
}

export interface ChunkedFile {
  size: number;
  /** SHA-256 of the whole content. */
  sha256: string;
  chunks: LocalChunk[];
}

/** Bytes per read: chunks are hashed from the read buffers, never copied. */
const READ_BYTES = 1024 * 1024;

/**
 * Cuts a local file into FastCDC chunks and hashes each (and the whole file)
 * in one read of it. The chunk hashes are fed from the read buffers, so no
 * byte is copied; memory is one read buffer.
 */
export async function chunkFile(path: string, avgBytes: number, progress: Progress, signal: AbortSignal): Promise<ChunkedFile> {
  const cutter = new FastCdcCutter(avgBytes);
  const fileHash = createHash("sha256");
  const chunks: LocalChunk[] = [];
  let chunkHash: Hash = createHash("sha256");
  let chunkStart = 0;
  let offset = 0;
  const endChunk = (end: number) => {
    chunks.push({ index: chunks.length, offset: chunkStart, size: end - chunkStart, sha256: chunkHash.digest("hex") });
    chunkHash = createHash("sha256");
    chunkStart = end;
  };
  for await (const frame of createReadStream(path, { highWaterMark: READ_BYTES }) as AsyncIterable<Buffer>) {
    if (signal.aborted) throw new CliError(ExitCode.interrupted, "interrupted");
    fileHash.update(frame);
    let start = 0;
    for (let cut; (cut = cutter.feed(frame, start)) !== -1; start = cut) {
      chunkHash.update(frame.subarray(start, cut));
      endChunk(offset + cut);
    }
    chunkHash.update(frame.subarray(start));
    offset += frame.length;
    progress.add(frame.length);
  }
  if (offset > chunkStart) endChunk(offset);
  return { size: offset, sha256: fileHash.digest("hex"), chunks };
}
