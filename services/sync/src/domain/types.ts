export const EVENT_TYPES = ["upload", "update", "delete", "move", "restore", "trash", "undelete", "purge", "damaged"] as const;
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
  /** Delete events: the chunk hashes the deleted file used. */
  chunkSha256s?: readonly string[] | undefined;
  /** When the change was committed; the time of recording when absent. */
  occurredAt?: Date | undefined;
}

export const SYNC_STATUSES = ["synchronized", "inconsistent"] as const;
export type SyncStatus = (typeof SYNC_STATUSES)[number];

export const VERIFICATION_ACTIONS = [
  "upload_synchronized",
  "update_synchronized",
  "delete_synchronized",
  "move_synchronized",
  "restore_synchronized",
  "trash_synchronized",
  "undelete_synchronized",
  "purge_synchronized",
  // A damage report whose version was whole again when verified: an upload healed it first.
  "healed",
  "superseded",
] as const;

/**
 * Damage reports: block storage found a chunk of the file's newest version
 * corrupt. They change nothing of the file, so the change feed leaves them out.
 */
export function isDamageReport(eventType: EventType): boolean {
  return eventType === "damaged";
}

/** Events saying a file is gone for good (a delete of old, a purge): verified as removals, not as content. */
export function isRemoval(eventType: EventType): boolean {
  return eventType === "delete" || eventType === "purge";
}
/** What verification concluded; "" when it found an inconsistency. */
export type VerificationAction = (typeof VERIFICATION_ACTIONS)[number] | "";

/** What background verification found for one event. */
export interface Verification {
  syncStatus: SyncStatus;
  chunksVerified: number;
  totalChunks: number;
  action: VerificationAction;
  /** How many chunks were downloaded and re-hashed (a sample). */
  chunksRehashed: number;
  verifiedAt: Date;
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
  /** Set once verification reached a conclusion (completed, or failed on an inconsistency). */
  verification?: Verification | undefined;
}

export type NewSyncEvent = Omit<SyncEventRecord, "seq" | "verification"> & {
  /** Delete events: the distinct chunk hashes the deleted file used. */
  chunkSha256s?: readonly string[] | undefined;
};

/** An event taken for verification, with what verifying it needs. */
export interface ClaimedEvent extends SyncEventRecord {
  /** Delete events: the distinct chunk hashes the deleted file used; empty otherwise. */
  chunkSha256s: string[];
}

export interface ListEventsQuery {
  pageSize: number;
  pageToken: string;
  /** Only this file's events; empty means every file. */
  fileId: string;
  /** Only events in this status; empty or absent means any. */
  status?: string | undefined;
  /** Only events of this type; empty or absent means any. */
  eventType?: string | undefined;
}

export interface EventPage {
  events: SyncEventRecord[];
  /** Empty on the last page. */
  nextPageToken: string;
}
