import { describe, expect, it } from "vitest";
import { pause } from "./scrubber.js";

describe("pause", () => {
  it("waits out a period longer than one timer can hold (30 days) instead of firing at once", async () => {
    const stop = new AbortController();
    let done = false;
    const waiting = pause(30 * 24 * 3600 * 1000, stop.signal).then(() => (done = true));
    // An overflowing timer fires after 1 ms: give it ample time to.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(done).toBe(false);
    stop.abort();
    await waiting;
    expect(done).toBe(true);
  });

  it("returns at once for nothing to wait or an aborted signal", async () => {
    await pause(0, new AbortController().signal);
    await pause(60_000, AbortSignal.abort());
  });
});
