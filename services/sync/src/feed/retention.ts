import type { Logger } from "pino";
import type { ChangeLog } from "./change-log.js";

const DAY_MS = 24 * 60 * 60 * 1000;
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Deletes events older than the retention window, now and then every
 * intervalMs. The feed refuses cursors older than what is kept
 * (FAILED_PRECONDITION), so clients list their files again.
 */
export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly changeLog: ChangeLog,
    private readonly retentionDays: number,
    private readonly log: Logger,
    private readonly intervalMs = PRUNE_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    void this.pruneOnce();
    this.timer = setInterval(() => void this.pruneOnce(), this.intervalMs);
    this.timer.unref();
  }

  /** Prunes once; errors are logged, never thrown (the next run tries again). */
  pruneOnce(): Promise<void> {
    this.running ??= (async () => {
      const cutoff = new Date(this.now() - this.retentionDays * DAY_MS);
      try {
        const deleted = await this.changeLog.pruneBefore(cutoff);
        if (deleted > 0) this.log.info({ deleted, cutoff, retentionDays: this.retentionDays }, "sync events pruned");
      } catch (err) {
        this.log.error({ err }, "pruning sync events failed");
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
