export const EVENT_TYPES = ["upload", "update", "delete"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const EVENT_STATUSES = ["pending", "processing", "completed", "failed"] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

/** A committed change as the metadata service's outbox relays it. */
export interface IncomingEvent {
  eventId: string;
  fileId: string;
  owner: string;
  /** Unchecked: whatever the relay sent, validated by the domain. */
  eventType: string;
  name: string;
  version: number;
  size: number;
  sha256: string;
  /** When the change was committed; the time of recording when absent. */
  occurredAt?: Date | undefined;
}

/** A recorded event. */
export interface SyncEventRecord {
  /** Position in the order events were recorded; never reused. */
  seq: number;
  eventId: string;
  fileId: string;
  owner: string;
  eventType: EventType;
  status: EventStatus;
  /** Processing attempts so far (background verification). */
  attempts: number;
  /** Why the last attempt failed; empty otherwise. */
  errorMessage: string;
  name: string;
  version: number;
  size: number;
  sha256: string;
  createdAt: Date;
  /** When the status last changed. */
  updatedAt: Date;
}

export type NewSyncEvent = Omit<SyncEventRecord, "seq">;

export interface ListEventsQuery {
  pageSize: number;
  pageToken: string;
  /** Only this file's events; empty means every file. */
  fileId: string;
}

export interface EventPage {
  events: SyncEventRecord[];
  /** Empty on the last page. */
  nextPageToken: string;
}
