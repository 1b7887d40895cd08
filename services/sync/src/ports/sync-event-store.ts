import type { EventStatus, EventType, NewSyncEvent, SyncEventRecord } from "../domain/types.js";

export interface StoredEventsQuery {
  owner: string;
  fileId?: string | undefined;
  status?: EventStatus | undefined;
  eventType?: EventType | undefined;
  /** Only events recorded before this seq (keyset pagination). */
  beforeSeq?: number | undefined;
  limit: number;
}

/** Where sync events are kept. Ids arrive validated and lowercased. */
export interface SyncEventStore {
  /**
   * Inserts, in one transaction, the events whose event_id is not stored
   * yet (the first of duplicates within the batch wins), with their chunk
   * hashes; returns how many were inserted.
   */
  insertNew(events: readonly NewSyncEvent[]): Promise<number>;
  /** The owner's events, newest (highest seq) first. */
  list(query: StoredEventsQuery): Promise<SyncEventRecord[]>;
  /** The event, only if it belongs to owner. */
  get(owner: string, eventId: string): Promise<SyncEventRecord | undefined>;
  /** Resolves when the store answers a trivial query (health check). */
  ping(): Promise<void>;
  close(): void;
}
