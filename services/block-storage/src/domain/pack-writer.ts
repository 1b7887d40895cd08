/** A chunk waiting for its pack: its key and the parts it arrived in (see ChunkStore.put). */
export interface PendingChunk {
  ownerKey: string;
  hash: string;
  parts: readonly Buffer[];
  size: number;
}

/**
 * Writes one pack of `chunks` (in order) and records it; resolves, chunk by
 * chunk, whether it was stored by this write (false: it was stored already).
 */
export type WritePack = (chunks: readonly PendingChunk[]) => Promise<boolean[]>;

export interface PackLimits {
  /** A pack is closed before it would pass this many bytes (a larger chunk goes alone). */
  maxPackBytes: number;
  /** Packs being written at once (a second one only starts with half a pack waiting). */
  packsInFlight: number;
}

interface Waiting {
  chunk: PendingChunk;
  resolve: (created: boolean) => void;
  reject: (err: unknown) => void;
}

/**
 * Groups the chunks put at the same time into packs. A chunk put while no
 * pack is being written leaves at once, alone if nothing else waits, so an
 * idle store adds no delay; chunks put meanwhile wait and leave together in
 * the next pack. Under load packs grow by themselves to what
 * arrives during one write, up to maxPackBytes; what is held is what the
 * callers hand over and wait for, so the callers' own limits (writes in
 * flight per stream) bound the memory, and a slow store slows them down.
 */
export class PackWriter {
  private readonly waiting: Waiting[] = [];
  private waitingBytes = 0;
  private writing = 0;

  constructor(
    private readonly write: WritePack,
    private readonly limits: PackLimits,
  ) {}

  /** Resolves once the chunk's pack is stored and recorded: true when this put stored it. */
  put(chunk: PendingChunk): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ chunk, resolve, reject });
      this.waitingBytes += chunk.size;
      this.pump();
    });
  }

  /** Chunks waiting for a pack slot, and their bytes (for metrics and tests). */
  get backlog(): { chunks: number; bytes: number } {
    return { chunks: this.waiting.length, bytes: this.waitingBytes };
  }

  /**
   * A write starts when none is running, or when another slot is free and
   * half a pack waits: while one pack is being written, the next one fills
   * up rather than leaving with the one or two chunks that came first.
   */
  private pump(): void {
    while (this.waiting.length > 0 && (this.writing === 0 || (this.writing < this.limits.packsInFlight && this.waitingBytes >= this.limits.maxPackBytes / 2))) {
      const pack = this.takePack();
      this.writing += 1;
      this.write(pack.map((w) => w.chunk)).then(
        (created) => pack.forEach((w, i) => w.resolve(created[i] ?? false)),
        (err: unknown) => pack.forEach((w) => w.reject(err)),
      ).finally(() => {
        this.writing -= 1;
        this.pump();
      });
    }
  }

  /** The oldest waiting chunks that fit one pack (at least one). */
  private takePack(): Waiting[] {
    let bytes = this.waiting[0]!.chunk.size;
    let count = 1;
    while (count < this.waiting.length && bytes + this.waiting[count]!.chunk.size <= this.limits.maxPackBytes) {
      bytes += this.waiting[count]!.chunk.size;
      count += 1;
    }
    this.waitingBytes -= bytes;
    return this.waiting.splice(0, count);
  }
}
