import type { ClaimedEvent, EventStatus, EventType, Verification } from "../domain/types.js";

/**
 * The events awaiting background verification, and the transitions of their
 * status: pending -> processing (claimed) -> completed | failed, or back to
 * pending to retry later. Every transition out of processing applies only
 * while the event is still processing, so an event completes at most once.
 */
export interface VerificationQueue {
  /**
   * After a restart: events a previous process left `processing` go back to
   * pending, except those interrupted `maxAttempts` times already, which fail
   * with `message` (a crash loop must not retry forever).
   */
  recoverInterrupted(maxAttempts: number, message: string, now: Date): Promise<{ requeued: number; failed: EventType[] }>;
  /**
   * In one transaction: up to `limit` pending events due at `now`, oldest
   * (lowest seq) first, turned processing with attempts + 1.
   */
  claimDue(now: Date, limit: number): Promise<ClaimedEvent[]>;
  /** processing -> completed with the result; false (nothing changed) when the event was not processing. */
  complete(seq: number, verification: Verification, now: Date): Promise<boolean>;
  /** processing -> failed with the reason and, when it reached one, the result. */
  fail(seq: number, message: string, verification: Verification | undefined, now: Date): Promise<boolean>;
  /** processing -> pending, due again at `nextAttemptAt`, keeping the reason. */
  retryLater(seq: number, message: string, nextAttemptAt: Date, now: Date): Promise<boolean>;
  /** Whether a delete or purge of the owner's file was recorded after the event at `afterSeq`. */
  hasLaterDelete(owner: string, fileId: string, afterSeq: number): Promise<boolean>;
}

/** Aggregates the metrics export reads on each scrape. */
export interface SyncEventStats {
  countsByTypeAndStatus(): Promise<Array<{ eventType: EventType; status: EventStatus; count: number }>>;
  /** When the oldest event not verified yet (pending or processing) was committed; undefined when none. */
  oldestUnverified(): Promise<Date | undefined>;
}
