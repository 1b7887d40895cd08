import type { OutboxEvent } from "../domain/types.js";

/** The sync events the catalogue's transactions wrote, as the outbox relay drains them. */
export interface OutboxStore {
  /** The oldest outbox events, in the order they were written. */
  pendingEvents(limit: number): Promise<OutboxEvent[]>;
  /** Forgets delivered events. */
  removeEvents(seqs: readonly string[]): Promise<void>;
  /** Moves an event the sync service refused into the dead letters, in one transaction. */
  setAside(event: OutboxEvent, reason: string): Promise<void>;
  /** How many events are set aside (the metric). */
  deadLetterCount(): Promise<number>;
}
