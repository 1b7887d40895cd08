import { CfsError } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import type { ChunkBatchReads, ChunkStorage, ChunkToRead } from "../ports/peers.js";
import { TurnBatches } from "./turn-batches.js";

interface Asked {
  owner: string;
  chunk: ChunkToRead;
  resolve(data: Buffer | undefined): void;
  reject(err: unknown): void;
}

/**
 * Verification's chunk reads gathered into ReadChunks calls: the events of a
 * run read their samples in one turn (after their shared inspection), so the
 * reads of one owner asked in that turn go on one stream instead of one
 * GetChunk each. Each read gets what a read of its own would have: its
 * bytes, undefined for a chunk not stored, a "data-loss" error for a corrupt
 * one. A stream ends at the first chunk missing or corrupt; the reads after
 * it go on a new stream. Any other failure fails the reads not answered yet.
 * One stream is open at a time, whatever the number of owners or runs in
 * flight: block storage reads a few chunks ahead on each stream, so
 * parallel streams would multiply the chunks it holds for verification
 * (a background check that need not be fast).
 */
export class BatchedChunkReads implements ChunkStorage {
  private readonly asked = new TurnBatches<CallIdentity, Asked>((as, asked) => this.sendAll(as, asked));
  /** The end of the last stream queued. */
  private streams: Promise<void> = Promise.resolve();

  constructor(private readonly inner: ChunkBatchReads & Pick<ChunkStorage, "storedSizes">) {}

  storedSizes(owner: string, hashes: readonly string[], as: CallIdentity): Promise<Map<string, number>> {
    return this.inner.storedSizes(owner, hashes, as);
  }

  read(owner: string, sha256: string, maxBytes: number, as: CallIdentity): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => this.asked.add(as, { owner, chunk: { sha256, maxBytes }, resolve, reject }));
  }

  private sendAll(as: CallIdentity, asked: readonly Asked[]): void {
    const byOwner = new Map<string, Asked[]>();
    for (const a of asked) {
      const same = byOwner.get(a.owner);
      if (same) same.push(a);
      else byOwner.set(a.owner, [a]);
    }
    for (const [owner, reads] of byOwner) {
      for (let start = 0; start < reads.length; start += MAX_HASHES_PER_CALL) {
        const slice = reads.slice(start, start + MAX_HASHES_PER_CALL);
        this.streams = this.streams.then(() => this.send(owner, slice, as));
      }
    }
  }

  private async send(owner: string, reads: readonly Asked[], as: CallIdentity): Promise<void> {
    let rest = reads;
    while (rest.length > 0) {
      let answered = 0;
      try {
        for await (const data of this.inner.readChunks(owner, rest.map((r) => r.chunk), as)) rest[answered++]!.resolve(data);
        return;
      } catch (err) {
        const [failed, ...after] = rest.slice(answered);
        if (!failed) return;
        if (!(err instanceof CfsError && (err.kind === "not-found" || err.kind === "data-loss"))) {
          for (const r of [failed, ...after]) r.reject(err);
          return;
        }
        // About this chunk only: its own answer, and a new stream for the rest.
        if (err.kind === "not-found") failed.resolve(undefined);
        else failed.reject(err);
        rest = after;
      }
    }
  }
}
