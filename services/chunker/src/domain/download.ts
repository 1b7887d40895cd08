import type { CallIdentity } from "#lib/grpc-client.js";
import { dataLoss, invalidArgument, outOfRange } from "#lib/errors.js";
import type { BlockStore } from "../ports/block-store.js";
import type { Catalogue } from "../ports/catalogue.js";
import { frames, sha256Hex } from "./chunking.js";
import type { ChunkRef, StoredFile } from "./types.js";

export type DownloadPart = { kind: "file"; file: StoredFile } | { kind: "data"; data: Buffer };

export interface ByteRange {
  offset: number;
  /** 0 means to the end of the file. */
  length: number;
}

/**
 * Streams the newest version of a file (or a byte range of it), verifying
 * every chunk's SHA-256 before any of its bytes leave. The next chunks are
 * fetched while the current one is being sent.
 */
export class Downloader {
  constructor(
    private readonly blocks: BlockStore,
    private readonly catalogue: Catalogue,
    private readonly frameSize: number,
    /** Chunks fetched ahead of the one being sent (memory: about this many chunks). */
    private readonly prefetch: number,
  ) {}

  async *download(fileId: string, range: ByteRange, as: CallIdentity): AsyncGenerator<DownloadPart> {
    if (!Number.isSafeInteger(range.offset) || range.offset < 0) throw invalidArgument("offset must be a non-negative integer");
    if (!Number.isSafeInteger(range.length) || range.length < 0) throw invalidArgument("length must be a non-negative integer");
    const file = await this.catalogue.getFile(fileId, as);
    if (range.offset > file.size) throw outOfRange(`offset ${range.offset} is beyond the end of the file (${file.size} bytes)`);
    const end = range.length === 0 ? file.size : Math.min(file.size, range.offset + range.length);
    const chunks = await this.catalogue.listChunks(fileId, file.version, as);
    const needed = chunks.filter((c) => c.offset + c.size > range.offset && c.offset < end);

    yield { kind: "file", file };
    // Up to `prefetch` chunks are fetched ahead of the one being sent; their
    // errors surface, in order, when they are awaited.
    const pending: Array<Promise<Buffer>> = [];
    let nextToFetch = 0;
    const refill = () => {
      while (pending.length < this.prefetch && nextToFetch < needed.length) {
        const fetching = this.fetchVerified(needed[nextToFetch++]!, as);
        fetching.catch(() => undefined);
        pending.push(fetching);
      }
    };
    for (const chunk of needed) {
      refill();
      const data = await pending.shift()!;
      refill();
      const from = Math.max(range.offset - chunk.offset, 0);
      const to = Math.min(end - chunk.offset, chunk.size);
      for (const frame of frames(data.subarray(from, to), this.frameSize)) yield { kind: "data", data: frame };
    }
  }

  private async fetchVerified(chunk: ChunkRef, as: CallIdentity): Promise<Buffer> {
    const data = await this.blocks.get(chunk.sha256, chunk.size, as);
    if (data.length !== chunk.size || sha256Hex(data) !== chunk.sha256) {
      throw dataLoss(`chunk ${chunk.index} (sha256 ${chunk.sha256}) does not match its hash`);
    }
    return data;
  }
}
