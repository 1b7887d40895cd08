import type { CallIdentity } from "#lib/grpc-client.js";
import { CfsError, dataLoss, invalidArgument, outOfRange } from "#lib/errors.js";
import type { ChunkReading } from "../ports/chunk-storage.js";
import type { ChunkPage, FileReads } from "../ports/file-catalogue.js";
import { frames, sha256Hex } from "./chunking.js";
import type { ChunkRef, StoredFile } from "./types.js";

/**
 * The file first (with how many bytes will follow), then its bytes. The
 * last part of each chunk names the chunk read from block storage: once that
 * part is sent, nothing reads the chunk's bytes any more.
 */
export type DownloadPart = { kind: "file"; file: StoredFile; bytes: number } | { kind: "data"; data: Buffer; lastOf?: Buffer };

export interface ByteRange {
  offset: number;
  /** 0 means to the end of the file. */
  length: number;
  /** The version to send; 0 (or absent) means the newest. */
  version?: number | undefined;
}

/**
 * Streams a version of a file (the newest unless one is named), or a byte range of it, verifying
 * every chunk's SHA-256 before any of its bytes leave. The chunk list comes
 * a page at a time (the next page is fetched while this one is sent); the
 * chunks of a page come on one ReadChunks stream, block storage reading a few
 * ahead of the one being sent, so the client's pace sets the pace of the
 * reads and memory stays at a few chunks.
 */
export class Downloader {
  constructor(
    private readonly blocks: ChunkReading,
    private readonly catalogue: FileReads,
    private readonly frameSize: number,
  ) {}

  async *download(fileId: string, range: ByteRange, as: CallIdentity): AsyncGenerator<DownloadPart> {
    if (!Number.isSafeInteger(range.offset) || range.offset < 0) throw invalidArgument("offset must be a non-negative integer");
    if (!Number.isSafeInteger(range.length) || range.length < 0) throw invalidArgument("length must be a non-negative integer");
    const version = range.version ?? 0;
    if (!Number.isInteger(version) || version < 0) throw invalidArgument("version must not be negative");
    const file = await this.catalogue.getFile(fileId, version, as);
    if (range.offset > file.size) throw outOfRange(`offset ${range.offset} is beyond the end of the file (${file.size} bytes)`);
    const end = range.length === 0 ? file.size : Math.min(file.size, range.offset + range.length);
    const listPage = (token: string): Promise<ChunkPage> => {
      const page = this.catalogue.listChunks(fileId, file.version, token, as);
      page.catch(() => undefined);
      return page;
    };
    // The first page is read before anything is sent, so an error there is the call's status.
    let page = await listPage("");
    yield { kind: "file", file, bytes: end - range.offset };
    while (range.offset < end) {
      const next = page.nextPageToken !== "" && lastByte(page) < end ? listPage(page.nextPageToken) : undefined;
      const needed = page.chunks.filter((c) => c.offset + c.size > range.offset && c.offset < end);
      let i = 0;
      try {
        for await (const data of this.blocks.read(needed, as)) {
          const chunk = needed[i++]!;
          if (data.length !== chunk.size || sha256Hex(data) !== chunk.sha256) {
            throw dataLoss(`chunk ${chunk.index} (sha256 ${chunk.sha256}) does not match its hash`);
          }
          const from = Math.max(range.offset - chunk.offset, 0);
          const to = Math.min(end - chunk.offset, chunk.size);
          const parts = [...frames(data.subarray(from, to), this.frameSize)];
          for (const [k, frame] of parts.entries()) yield k === parts.length - 1 ? { kind: "data", data: frame, lastOf: data } : { kind: "data", data: frame };
        }
      } catch (err) {
        // A chunk the version lists is gone (quarantined as corrupt, or lost): the file is damaged, not absent.
        if (err instanceof CfsError && err.kind === "not-found") throw dataLoss(`a chunk of the file is missing from block storage: ${err.message}`);
        throw err;
      }
      if (!next) break;
      page = await next;
    }
  }
}

function lastByte(page: ChunkPage): number {
  const last: ChunkRef | undefined = page.chunks.at(-1);
  return last ? last.offset + last.size : 0;
}
