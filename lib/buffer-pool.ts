/**
 * What a service's pool of chunk buffers keeps idle while chunks flow: the
 * chunks of a few messages or pack runs in flight.
 */
export const IDLE_CHUNK_BUFFER_BYTES = 16 * 1024 * 1024;

/**
 * Chunk-sized memory used again instead of freed.
 *
 * Why: a chunk buffer that lives a while (read ahead, waiting for its turn
 * on a stream) survives two young-generation collections and is promoted,
 * and V8 frees promoted ArrayBuffers only in a full mark-compact, which it
 * starts for every ~64 MB of them. Moving 1 GiB of chunks in fresh buffers
 * so cost ~15 full collections; `perf` put garbage collection at a quarter
 * of block storage's and the chunker's CPU on a download (~0.9 CPU-s per
 * GiB each), plus the kernel's zeroing of each buffer's freshly mapped
 * pages. A buffer handed back once nothing uses its bytes is simply filled
 * again.
 *
 * Giving back is explicit and only ever done where the last use is known
 * (a message written out by HTTP/2, a pack stored): a buffer that is never
 * given back is collected as before, so forgetting costs speed, never
 * bytes; giving back too early would let its bytes be overwritten, which is
 * why only memory taken from this pool and not already idle is accepted.
 *
 * Sizes go up in eight steps per power of two (at most 1/8 more than asked),
 * and a request takes idle memory of its own step or of one of the three
 * above, so a buffer serves any chunk of nearly its size; the memory kept
 * idle stays bounded (`maxIdleBytes`; past it a given-back buffer is left
 * to the collector), and a pool nobody takes from for a while lets go of all
 * of it, so a service between transfers holds none.
 */
export class BufferPool {
  /** Idle memory by capacity. */
  private readonly idle = new Map<number, ArrayBuffer[]>();
  /** Every ArrayBuffer this pool made and still tracks: whether it is idle now. */
  private readonly state = new WeakMap<ArrayBuffer, { idle: boolean }>();
  private idleBytes = 0;
  /** Whether anything was taken since the trim timer was set. */
  private takenSinceTrimSet = false;
  private trimTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxIdleBytes: number,
    /** Smaller requests are not pooled (a fresh allocation costs them little and would only fill the pool). */
    readonly minBytes = 64 * 1024,
    /** Idle memory nobody asked for during this long goes to the garbage collector: a quiet service holds none. */
    private readonly trimAfterMs = 2_000,
  ) {}

  /** Memory of at least `bytes` (an idle buffer of its size step when there is one); give it back with give(). */
  take(bytes: number): ArrayBuffer {
    if (bytes < this.minBytes) return uninitialized(bytes);
    this.takenSinceTrimSet = true;
    const capacity = capacityFor(bytes);
    // Its own step first, then the few above: chunk sizes spread over many steps.
    for (let size = capacity, step = 0; step <= LARGER_STEPS_TAKEN; step++, size = capacityFor(size + 1)) {
      const memory = this.idle.get(size)?.pop();
      if (memory) {
        this.idleBytes -= size;
        this.state.get(memory)!.idle = false;
        return memory;
      }
    }
    const fresh = uninitialized(capacity);
    this.state.set(fresh, { idle: false });
    return fresh;
  }

  /**
   * Hands memory from take() back once nothing will read or write its bytes
   * again. Anything else (memory from elsewhere, memory already given back)
   * is ignored.
   */
  give(memory: ArrayBufferLike): void {
    const state = memory instanceof ArrayBuffer ? this.state.get(memory) : undefined;
    if (!state || state.idle) return;
    const capacity = memory.byteLength;
    if (this.idleBytes + capacity > this.maxIdleBytes) {
      this.state.delete(memory as ArrayBuffer);
      return;
    }
    state.idle = true;
    this.idleBytes += capacity;
    const list = this.idle.get(capacity);
    if (list) list.push(memory as ArrayBuffer);
    else this.idle.set(capacity, [memory as ArrayBuffer]);
    this.trimWhenQuiet();
  }

  /** Drops the idle memory once a whole trimAfterMs passes without a take. */
  private trimWhenQuiet(): void {
    if (this.trimTimer) return;
    this.takenSinceTrimSet = false;
    this.trimTimer = setTimeout(() => {
      this.trimTimer = undefined;
      if (this.takenSinceTrimSet) return this.trimWhenQuiet();
      for (const list of this.idle.values()) for (const memory of list) this.state.delete(memory);
      this.idle.clear();
      this.idleBytes = 0;
    }, this.trimAfterMs);
    this.trimTimer.unref();
  }

  /** Whether the memory is this pool's and lent out (taken, not given back). */
  lent(memory: ArrayBufferLike): boolean {
    return memory instanceof ArrayBuffer && this.state.get(memory)?.idle === false;
  }

  /** Bytes held idle, waiting to be taken again. */
  get idleByteCount(): number {
    return this.idleBytes;
  }
}

/**
 * How many size steps above its own a request may be served from: idle
 * memory up to about a third larger than needed is used rather than left
 * idle while a new buffer is made.
 */
const LARGER_STEPS_TAKEN = 3;

/** An ArrayBuffer of its own, not zero-filled: every byte used is written before it is read. */
function uninitialized(bytes: number): ArrayBuffer {
  return Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;
}

/** The size step `bytes` falls in: rounded up to 1/8 of the power of two below it. */
export function capacityFor(bytes: number): number {
  const step = 2 ** Math.max(0, Math.floor(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}
