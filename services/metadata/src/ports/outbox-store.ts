import type { OutboxEvent } from "../domain/types.js";

/** The sync events the catalogue's transactions wrote, as the outbox relay drains them. */
export interface OutboxStore {
  /** The oldest outbox events, in the order they were written. */
  pendingEvents(limit: number): Promise<OutboxEvent[]>;
  /** Forgets delivered events. */
  removeEvents(seqs: readonly string[]): Promise<void>;
}
