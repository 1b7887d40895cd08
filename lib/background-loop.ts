import type { Logger } from "pino";

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
 * work is followed immediately; failures back off. stop() waits for the run
 * in progress, so shutdown never cuts a batch in half.
 */
export class BackgroundLoop {
  private timer: NodeJS.Timeout | undefined;
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
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce().finally(() => (this.running = undefined));
    }, delayMs);
  }

  private async runOnce(): Promise<void> {
    const { name, intervalMs, maxBackoffMs, log } = this.options;
    let delay = intervalMs;
    try {
      const more = await this.task(this.abort.signal);
      this.failures = 0;
      if (more) delay = 0;
    } catch (err) {
      this.failures += 1;
      delay = retryDelay(intervalMs, maxBackoffMs, this.failures);
      log.warn({ err, loop: name, failures: this.failures, retryInMs: delay }, `${name} failed`);
    }
    this.schedule(delay);
  }
}
