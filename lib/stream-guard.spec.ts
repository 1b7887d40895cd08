import { describe, expect, it } from "vitest";
import { SlowClientError, StreamGuard, type StreamLimits } from "./stream-guard.js";

/** A guard on a clock the test moves. */
function guarded(limits: StreamLimits) {
  const clock = { now: 0 };
  const guard = new StreamGuard(limits, () => clock.now);
  return { guard, advance: (ms: number) => (clock.now += ms) };
}

const LIMITS: StreamLimits = { idleMs: 10_000, minBytesPerSecond: 100, windowMs: 4_000 };

describe("StreamGuard", () => {
  it("lets a stream through that delivers faster than the minimum", () => {
    const { guard, advance } = guarded(LIMITS);
    for (let i = 0; i < 100; i++) {
      guard.wait();
      advance(500);
      guard.received(100); // 200 B/s
    }
  });

  it("fails a silent stream once the idle limit has passed, at the delay it asked for", () => {
    const { guard, advance } = guarded({ ...LIMITS, minBytesPerSecond: 0 });
    expect(guard.wait()).toBe(10_000);
    advance(10_000);
    expect(() => guard.check()).toThrow(new SlowClientError("no data from the client for 10 s"));
  });

  it("fails a trickle (one byte every 3 s) at the end of a rate window, although no wait reaches the idle limit", () => {
    const { guard, advance } = guarded(LIMITS);
    guard.wait();
    advance(3_000);
    guard.received(1);
    // 3 s of the 4 s window waited: the next check comes when the window is full.
    expect(guard.wait()).toBe(1_000);
    advance(1_000);
    expect(() => guard.check()).toThrow(/sent 1 bytes in 4 s, less than the minimum of 100 bytes per second/);
  });

  it("does not count time the server spent not reading (its own backpressure)", () => {
    const { guard, advance } = guarded(LIMITS);
    for (let i = 0; i < 10; i++) {
      guard.wait();
      advance(10);
      guard.received(64 * 1024);
      advance(60_000); // the server is busy storing: nobody waits for the client
    }
  });

  it("starts a new window after a good one, so a stream that stalls later is still caught", () => {
    const { guard, advance } = guarded(LIMITS);
    guard.wait();
    advance(4_000);
    guard.received(1_000); // 250 B/s over the first window
    expect(guard.wait()).toBe(4_000);
    advance(4_000);
    expect(() => guard.check()).toThrow(SlowClientError);
  });

  it("rechecks a long wait window by window until the idle limit", () => {
    const { guard, advance } = guarded({ idleMs: 10_000, minBytesPerSecond: 1, windowMs: 4_000 });
    guard.wait();
    advance(3_000);
    guard.received(50); // enough for the first window and the next one
    expect(guard.wait()).toBe(1_000);
    advance(1_000);
    expect(guard.check()).toBe(4_000); // window closed fine with 50 bytes; a new one runs
    advance(4_000);
    expect(() => guard.check()).toThrow(/sent 0 bytes in 4 s/);
  });

  it("with the rate check off, only the idle limit applies", () => {
    const { guard, advance } = guarded({ idleMs: 5_000, minBytesPerSecond: 0, windowMs: 1_000 });
    for (let i = 0; i < 20; i++) {
      expect(guard.wait()).toBe(5_000);
      advance(4_900);
      guard.received(1);
    }
  });
});
