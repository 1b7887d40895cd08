import { afterEach, describe, expect, it, vi } from "vitest";
import { BufferPool, capacityFor } from "./buffer-pool.js";

const MiB = 1024 * 1024;

describe("capacityFor", () => {
  it("rounds up to an eighth of the power of two below", () => {
    expect(capacityFor(MiB)).toBe(MiB);
    expect(capacityFor(MiB + 1)).toBe(MiB + 128 * 1024);
    expect(capacityFor(1_000_000)).toBe(MiB); // steps of 64 KiB between 512 KiB and 1 MiB
    expect(capacityFor(4 * MiB - 1)).toBe(4 * MiB);
    for (const bytes of [65_536, 100_000, 777_777, 1_048_577, 3_000_001]) {
      expect(capacityFor(bytes)).toBeGreaterThanOrEqual(bytes);
      expect(capacityFor(bytes)).toBeLessThanOrEqual(bytes * 1.125);
    }
  });
});

describe("BufferPool", () => {
  it("lends memory of at least the size asked, and the same memory again once it is given back", () => {
    const pool = new BufferPool(16 * MiB);
    const first = pool.take(MiB - 10);
    expect(first.byteLength).toBe(MiB);
    expect(pool.lent(first)).toBe(true);
    pool.give(first);
    expect(pool.lent(first)).toBe(false);
    expect(pool.idleByteCount).toBe(MiB);
    // Another size of the same step gets it; a size of another step does not.
    expect(pool.take(2 * MiB)).not.toBe(first);
    expect(pool.take(MiB - 1000)).toBe(first);
    expect(pool.idleByteCount).toBe(0);
  });

  it("serves a request from idle memory up to three size steps larger, not more", () => {
    const pool = new BufferPool(16 * MiB);
    const memory = pool.take(MiB); // steps of 64 KiB below 1 MiB
    pool.give(memory);
    expect(pool.take(MiB - 4 * 64 * 1024)).not.toBe(memory);
    expect(pool.take(MiB - 3 * 64 * 1024)).toBe(memory);
  });

  it("never lends one memory twice: a second give of it, or memory it did not make, is ignored", () => {
    const pool = new BufferPool(16 * MiB);
    const memory = pool.take(MiB);
    pool.give(memory);
    pool.give(memory);
    pool.give(new ArrayBuffer(MiB));
    pool.give(Buffer.allocUnsafeSlow(MiB).buffer);
    expect(pool.idleByteCount).toBe(MiB);
    const a = pool.take(MiB);
    const b = pool.take(MiB);
    expect(a).toBe(memory);
    expect(b).not.toBe(memory);
  });

  it("keeps at most maxIdleBytes idle and leaves the rest to the garbage collector", () => {
    const pool = new BufferPool(2 * MiB);
    const lent = [pool.take(MiB), pool.take(MiB), pool.take(MiB)];
    lent.forEach((memory) => pool.give(memory));
    expect(pool.idleByteCount).toBe(2 * MiB);
    // The third was dropped: it is not taken again, and giving it once more does not bring it back.
    pool.give(lent[2]!);
    expect(pool.idleByteCount).toBe(2 * MiB);
    expect([pool.take(MiB), pool.take(MiB)]).toEqual(expect.arrayContaining([lent[0], lent[1]]));
    expect(pool.take(MiB)).not.toBe(lent[2]);
  });

  it("does not pool small requests", () => {
    const pool = new BufferPool(16 * MiB, 64 * 1024);
    const small = pool.take(1000);
    expect(small.byteLength).toBe(1000);
    pool.give(small);
    expect(pool.idleByteCount).toBe(0);
    expect(pool.lent(small)).toBe(false);
  });
});

describe("BufferPool when nothing is taken", () => {
  afterEach(() => vi.useRealTimers());

  it("lets go of its idle memory once a whole trim period passes without a take, and not while memory is taken", () => {
    vi.useFakeTimers();
    const pool = new BufferPool(16 * MiB, 64 * 1024, 1000);
    const a = pool.take(MiB);
    pool.give(a);
    vi.advanceTimersByTime(600);
    // A take within the period keeps the pool for another one.
    const b = pool.take(MiB);
    expect(b).toBe(a);
    pool.give(b);
    vi.advanceTimersByTime(600);
    expect(pool.idleByteCount).toBe(MiB);
    vi.advanceTimersByTime(1000);
    expect(pool.idleByteCount).toBe(0);
    // Dropped memory is not the pool's any more.
    pool.give(a);
    expect(pool.idleByteCount).toBe(0);
    expect(pool.take(MiB)).not.toBe(a);
  });
});
