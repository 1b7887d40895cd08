import { describe, expect, it } from "vitest";
import { describeEvent, passedThrough, quickExits, RESTART_BASE_MS, RESTART_MAX_MS, restartDelayMs, STABLE_MS } from "./supervisor.js";

describe("supervision", () => {
  it("doubles the wait with each quick exit, up to the cap, and starts over after a stable run", () => {
    let quick = 0;
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      quick = quickExits(quick, 1_000);
      delays.push(restartDelayMs(quick));
    }
    expect(delays.slice(0, 4)).toEqual([RESTART_BASE_MS, 2 * RESTART_BASE_MS, 4 * RESTART_BASE_MS, 8 * RESTART_BASE_MS]);
    expect(delays.at(-1)).toBe(RESTART_MAX_MS);
    expect(restartDelayMs(quickExits(quick, STABLE_MS))).toBe(RESTART_BASE_MS);
  });

  it("says what happened", () => {
    expect(describeEvent({ service: "chunker", kind: "exited", signal: "SIGKILL", code: null, delayMs: 500, restarts: 1 })).toBe(
      "chunker exited unexpectedly (signal SIGKILL); restarting in 0.5 s (restart 1)",
    );
  });

  it("passes the caller's CFS_* variables through, nothing else", () => {
    expect(passedThrough({ CFS_GC_GRACE_SECONDS: "5", CFS_SCRUB_PERIOD_DAYS: "1", PATH: "/bin", HOME: "/root" })).toEqual({
      CFS_GC_GRACE_SECONDS: "5",
      CFS_SCRUB_PERIOD_DAYS: "1",
    });
  });
});
