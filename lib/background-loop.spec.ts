import pino from "pino";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";
import { BackgroundLoop, pause, retryDelay } from "./background-loop.js";

const log = createLogger("test", "silent");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}

describe("retryDelay", () => {
  it("doubles from the interval up to the cap, and never goes below the interval", () => {
    expect([1, 2, 3, 4, 5, 6, 100].map((n) => retryDelay(1000, 30_000, n))).toEqual([2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(retryDelay(60_000, 30_000, 3)).toBe(60_000);
  });
});

describe("BackgroundLoop", () => {
  it("never overlaps runs, runs again at once while there is more work, and stop() waits for the run in progress", async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let finished = 0;
    const loop = new BackgroundLoop(
      async () => {
        active += 1;
        runs += 1;
        maxActive = Math.max(maxActive, active);
        await sleep(30);
        active -= 1;
        finished += 1;
        return runs < 3;
      },
      { name: "test", intervalMs: 10_000, maxBackoffMs: 30_000, log },
    );
    loop.start();
    await until(() => runs === 3);
    await loop.stop();
    expect(finished).toBe(runs);
    expect(maxActive).toBe(1);
    await sleep(50);
    expect(runs).toBe(3);
  });

  it("backs off after failures and recovers", async () => {
    const starts: number[] = [];
    const loop = new BackgroundLoop(
      async () => {
        starts.push(Date.now());
        if (starts.length <= 2) throw new Error("down");
        return false;
      },
      { name: "test", intervalMs: 20, maxBackoffMs: 1000, log },
    );
    loop.start();
    await until(() => starts.length >= 3);
    await loop.stop();
    // 40 ms after the first failure, 80 ms after the second.
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(35);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(75);
  });

  it("passes an abort signal that stop() fires", async () => {
    let signal: AbortSignal | undefined;
    const loop = new BackgroundLoop(
      async (s) => {
        signal = s;
        await sleep(20);
        return false;
      },
      { name: "test", intervalMs: 1000, maxBackoffMs: 1000, log },
    );
    loop.start();
    await until(() => signal !== undefined);
    const stopped = loop.stop();
    expect(signal?.aborted).toBe(true);
    await stopped;
  });

  it("a run whose calls stop() cancels ends at once, is logged as stopped rather than failed, and is not retried", async () => {
    const lines: Array<{ level: number; msg: string; reason?: string }> = [];
    const captured = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l) as (typeof lines)[number]) });
    let runs = 0;
    // A call to a peer that never answers: only the signal ends it.
    const loop = new BackgroundLoop(
      (signal) =>
        new Promise<boolean>((_, reject) => {
          runs += 1;
          signal.addEventListener("abort", () => reject(new Error("call cancelled")), { once: true });
        }),
      { name: "relay", intervalMs: 1, maxBackoffMs: 1, log: captured },
    );
    loop.start();
    await until(() => runs === 1);
    await loop.stop();
    expect(lines).toEqual([expect.objectContaining({ level: 30, msg: "relay stopped mid-run", reason: "call cancelled" })]);
    // Nothing was scheduled after it: a retry would run within the 1 ms interval.
    await sleep(20);
    expect(runs).toBe(1);
  });
});

describe("pause", () => {
  it("waits out a period longer than one timer can hold (30 days) instead of firing at once", async () => {
    const stop = new AbortController();
    let done = false;
    const waiting = pause(30 * 24 * 3600 * 1000, stop.signal).then(() => (done = true));
    // An overflowing timer fires after 1 ms: give it ample time to.
    await sleep(50);
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

describe("BackgroundLoop with a period of days", () => {
  it("runs once, does not run again before the period, and stops at once", async () => {
    let runs = 0;
    const loop = new BackgroundLoop(
      async () => {
        runs += 1;
        return false;
      },
      { name: "monthly", intervalMs: 30 * 24 * 3600 * 1000, maxBackoffMs: 30 * 24 * 3600 * 1000, log },
    );
    loop.start();
    await until(() => runs === 1);
    await sleep(50);
    expect(runs).toBe(1);
    await loop.stop();
  });
});
