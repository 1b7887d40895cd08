import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Logger } from "pino";
import type { VerificationObserver } from "../domain/verifier.js";
import { EVENT_TYPES, type EventType, type VerificationAction } from "../domain/types.js";
import type { SyncEventStats } from "../ports/verification-queue.js";

const FAILURE_REASONS = ["inconsistent", "retries_exhausted", "interrupted"] as const;

/**
 * The sync service's own metrics, on the process registry: event counts by
 * type and status and the verification lag, both read from SQLite on each
 * scrape, and counters and timings of the verification worker.
 */
export class VerificationMetrics implements VerificationObserver {
  private readonly verified: Counter<"event_type" | "action">;
  private readonly failures: Counter<"event_type" | "reason">;
  private readonly retries: Counter<"event_type">;
  private readonly duration: Histogram<"event_type">;

  constructor(registry: Registry, stats: SyncEventStats, log: Logger, now: () => number = Date.now) {
    new Gauge({
      name: "cfs_sync_events",
      help: "Recorded sync events by type and status.",
      labelNames: ["event_type", "status"],
      registers: [registry],
      async collect() {
        try {
          for (const { eventType, status, count } of await stats.countsByTypeAndStatus()) {
            this.set({ event_type: eventType, status }, count);
          }
        } catch (err) {
          log.warn({ err }, "could not read event counts for metrics");
        }
      },
    });
    new Gauge({
      name: "cfs_sync_verification_lag_seconds",
      help: "Age of the oldest event not verified yet (pending or processing), since its commit; 0 when none.",
      registers: [registry],
      async collect() {
        try {
          const oldest = await stats.oldestUnverified();
          this.set(oldest ? Math.max(0, (now() - oldest.getTime()) / 1000) : 0);
        } catch (err) {
          log.warn({ err }, "could not read the verification lag for metrics");
        }
      },
    });
    this.verified = new Counter({
      name: "cfs_sync_verifications_total",
      help: "Events verified and completed, by type and resulting action.",
      labelNames: ["event_type", "action"],
      registers: [registry],
    });
    this.failures = new Counter({
      name: "cfs_sync_verification_failures_total",
      help: "Events whose verification ended failed: an inconsistency found, retries exhausted, or interrupted too often.",
      labelNames: ["event_type", "reason"],
      registers: [registry],
    });
    this.retries = new Counter({
      name: "cfs_sync_verification_retries_total",
      help: "Verification attempts put back to pending after a transient error or an unsettled finding.",
      labelNames: ["event_type"],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: "cfs_sync_verification_seconds",
      help: "Time to verify one event that completed.",
      labelNames: ["event_type"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers: [registry],
    });
    // Zero series exist from the start, so rate() and alerts see the first failure.
    for (const eventType of EVENT_TYPES) {
      for (const reason of FAILURE_REASONS) this.failures.inc({ event_type: eventType, reason }, 0);
    }
  }

  completed(eventType: EventType, action: VerificationAction, seconds: number): void {
    this.verified.inc({ event_type: eventType, action });
    this.duration.observe({ event_type: eventType }, seconds);
  }

  failed(eventType: EventType, reason: (typeof FAILURE_REASONS)[number]): void {
    this.failures.inc({ event_type: eventType, reason });
  }

  retried(eventType: EventType): void {
    this.retries.inc({ event_type: eventType });
  }
}
