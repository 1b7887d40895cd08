import type { EventType } from "../domain/types.js";

/** One committed change as the feed sends it. */
export interface FeedChange {
  /**
   * Position in the owner's own log (sync_events.owner_seq: 1, 2, 3... per
   * owner, so it says nothing about other users); the cursor after this change.
   */
  seq: number;
  fileId: string;
  name: string;
  eventType: EventType;
  version: number;
  size: number;
  sha256: string;
  committedAt: Date;
}

/** One owner's part of the log, in the owner's own numbering. */
export interface LogBounds {
  /**
   * The lowest seq a client may resume after: every change of the owner
   * with a higher seq is still kept. Pruning raises it.
   */
  oldest: number;
  /** The highest seq ever assigned to the owner (0 for none); cursors beyond it were never issued here. */
  head: number;
}

export interface ChangePage extends LogBounds {
  /** The owner's changes after the requested seq, in seq order; bounds are read in the same snapshot. */
  changes: FeedChange[];
}

/** The read side of the sync event log the change feed needs, plus retention. */
export interface ChangeLog {
  bounds(owner: string): Promise<LogBounds>;
  /** The log's own (global) head: it moves with every event of anyone, so it is never shown to users. */
  latest(): Promise<number>;
  /** At most `limit` of the owner's changes with seq > afterSeq, oldest first. */
  changesAfter(owner: string, afterSeq: number, limit: number): Promise<ChangePage>;
  /**
   * Deletes the oldest events, in seq order, up to (not including) the
   * first one committed at or after `cutoff`, so that what remains is a
   * contiguous tail of the log. Returns how many were deleted.
   */
  pruneBefore(cutoff: Date): Promise<number>;
  close(): void;
}
