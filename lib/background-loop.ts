import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { errorMessage } from "./errors.js";

/** The longest delay one Node timer takes: a longer one fires after 1 ms instead (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Waits `ms` (or until `signal` aborts), however long: background periods are
 * days long (a scrub pass every 30 days), past what one timer holds, so the
 * wait goes in slices — one 30-day timer would fire at once and turn a
 * periodic task into a tight loop.
 */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  for (let left = ms; left > 0 && !signal.aborted; left -= MAX_TIMER_MS) {
    await sleep(Math.min(left, MAX_TIMER_MS), undefined, { signal }).catch(() => undefined);
  }
}

export interface LoopOptions {
  name: string;
  /** Pause between runs while all is well. */
  intervalMs: number;
  /** Failures back off exponentially from intervalMs up to this (never below intervalMs). */
  maxBackoffMs: number;
  log: Logger;
}

/** The pause before the next run after `failures` consecutive failures. */
export function retryDelay(intervalMs: number, maxBackoffMs: number, failures: number): number {
  return Math.min(intervalMs * 2 ** Math.min(failures, 30), Math.max(maxBackoffMs, intervalMs));
}

/**
 * Runs a background task periodically. The next run is scheduled only when
 * the previous one finished, so runs never overlap; a run that reports more
 * work is followed immediately; failures back off. stop() aborts the task's
 * signal, which cancels the calls it makes to peers (a peer that is gone is
 * otherwise waited for until the call's deadline), and waits for the run to
 * settle: what it finished is recorded, and the rest is done by the next process.
 */
export class BackgroundLoop {
  private running: Promise<void> | undefined;
  private failures = 0;
  private readonly abort = new AbortController();

  constructor(
    /** One run; resolves true when more work is already waiting. */
    private readonly task: (signal: AbortSignal) => Promise<boolean>,
    private readonly options: LoopOptions,
  ) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private schedule(delayMs: number): void {
    // Even with no delay the next run waits for the event loop's next turn, as a timer
    // did: a task that keeps reporting more work must not starve everything else.
    const waited = delayMs > 0 ? pause(delayMs, this.abort.signal) : new Promise<void>((resolve) => setImmediate(resolve));
    void waited.then(() => {
      if (this.abort.signal.aborted) return;
      // A run schedules the next before its own promise settles: only the latest run clears itself.
      const run: Promise<void> = this.runOnce().finally(() => {
        if (this.running === run) this.running = undefined;
      });
      this.running = run;
    });
  }

  private async runOnce(): Promise<void> {
    const { name, intervalMs, maxBackoffMs, log } = this.options;
    let delay = intervalMs;
    try {
      const more = await this.task(this.abort.signal);
      this.failures = 0;
      if (more) delay = 0;
    } catch (err) {
      // stop() cancelled the run's calls: not a failure, and nothing follows.
      if (this.abort.signal.aborted) {
        log.info({ loop: name, reason: errorMessage(err) }, `${name} stopped mid-run`);
        return;
      }
      this.failures += 1;
      delay = retryDelay(intervalMs, maxBackoffMs, this.failures);
      log.warn({ err, loop: name, failures: this.failures, retryInMs: delay }, `${name} failed`);
    }
    this.schedule(delay);
  }
}
