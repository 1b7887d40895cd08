import type { Principal } from "#lib/auth.js";
import { invalidArgument, notFound, permissionDenied } from "#lib/errors.js";
import type { SyncEventStore } from "../ports/sync-event-store.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import {
  EVENT_STATUSES,
  EVENT_TYPES,
  isDamageReport,
  isRemoval,
  type EventPage,
  type EventStatus,
  type EventType,
  type IncomingEvent,
  type ListEventsQuery,
  type NewSyncEvent,
  type SyncEventRecord,
} from "./types.js";
import type { CommittedFiles, FileDamage } from "../ports/peers.js";
import { MAX_NAME_BYTES, MAX_OWNER_LENGTH, SHA256_HEX } from "#lib/limits.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT32_MAX = 2 ** 31 - 1;

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
/** Bounds one RecordEvents transaction; the relay sends smaller batches. */
export const MAX_EVENTS_PER_BATCH = 1000;
/** The longest subject the token verifier accepts. */
/**
 * The most chunk hashes one delete event may carry: a file of the largest
 * size metadata accepts (64 GiB) in 1 MiB chunks.
 */
export const MAX_CHUNKS_PER_EVENT = 65_536;
/** One message for unknown files and other users' files. */
const NO_EVENTS_FOR_FILE = "no sync events for this file";

/** The sync state of one file: its newest event. */
export interface FileSyncStatus {
  fileId: string;
  status: EventStatus;
  /** Undefined for a file committed whose first event is still in metadata's outbox. */
  latest: SyncEventRecord | undefined;
  /** Set when the file's newest version has chunks block storage no longer holds. */
  damage?: string;
}

/** Records relayed events and answers users about their own events. */
export class SyncEvents {
  constructor(
    private readonly store: SyncEventStore,
    private readonly committed: CommittedFiles,
    private readonly damage: FileDamage,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Records a batch from the metadata service's outbox. Only a service
   * identity may: the owner comes from the event, so a user could otherwise
   * write into anyone's history. One invalid event rejects the whole batch
   * (nothing is recorded) so the relay sees the error instead of a gap.
   */
  async record(principal: Principal, events: readonly IncomingEvent[]): Promise<number> {
    if (!principal.isService) throw permissionDenied("only cfs services may record sync events");
    if (events.length > MAX_EVENTS_PER_BATCH) {
      throw invalidArgument(`at most ${MAX_EVENTS_PER_BATCH} events per request, got ${events.length}`);
    }
    const recordedAt = this.now();
    const rows = events.map((event, i) => toNewEvent(event, `events[${i}]`, recordedAt));
    if (rows.length === 0) return 0;
    return this.store.insertNew(rows);
  }

  /** The caller's events, newest first, a page at a time. */
  async list(principal: Principal, query: ListEventsQuery): Promise<EventPage> {
    const pageSize = checkPageSize(query.pageSize);
    const fileId = query.fileId === "" ? "" : checkUuid(query.fileId, "file_id");
    const status = query.status ?? "";
    if (status !== "" && !isEventStatus(status)) throw invalidArgument("status must be pending, processing, completed or failed");
    const eventType = query.eventType ?? "";
    if (eventType !== "" && !isEventType(eventType)) throw invalidArgument(`event_type must be one of ${EVENT_TYPES.join(", ")}`);
    const filters = { fileId, status, eventType };
    // The token names the page's last event; its place in the log stays inside the service.
    let beforeSeq: number | undefined;
    if (query.pageToken !== "") {
      const anchor = await this.store.get(principal.subject, decodePageToken(query.pageToken, filters));
      if (!anchor) throw invalidArgument("page_token is invalid or its events are no longer kept: list from the start");
      beforeSeq = anchor.seq;
    }
    // One extra row tells whether another page follows without a COUNT.
    const rows = await this.store.list({
      owner: principal.subject,
      fileId: fileId === "" ? undefined : fileId,
      status: status === "" ? undefined : status,
      eventType: eventType === "" ? undefined : eventType,
      beforeSeq,
      limit: pageSize + 1,
    });
    const events = rows.slice(0, pageSize);
    const last = events.at(-1);
    const nextPageToken = rows.length > pageSize && last ? encodePageToken(last.eventId, filters) : "";
    return { events, nextPageToken };
  }

  /**
   * The newest event of one of the caller's files: its status is the file's
   * sync state. A damage report the file has healed from since (an upload
   * stored its missing chunks again) no longer counts: the newest event
   * before it does, and the report stays in the file's history. A file
   * committed whose first event has not arrived yet is pending. A file of
   * another user answers like one that does not exist. The check with the
   * peers stops when `signal` aborts (the client went away).
   */
  async fileStatus(principal: Principal, fileId: string, signal?: AbortSignal): Promise<FileSyncStatus> {
    const id = checkUuid(fileId, "file_id");
    const owner = principal.subject;
    const [latest] = await this.store.list({ owner, fileId: id, limit: 1 });
    if (latest) {
      const damage = isRemoval(latest.eventType) ? { kind: "unknown" as const } : await this.damage.damageOf(owner, id, signal);
      const shown = damage.kind === "whole" && isDamageReport(latest.eventType) ? await this.beforeDamageReports(owner, id, latest) : latest;
      return { fileId: id, status: shown.status, latest: shown, ...(damage.kind === "damaged" ? { damage: damage.message } : {}) };
    }
    if (await this.committed.isCommitted(principal.subject, id)) return { fileId: id, status: "pending", latest: undefined };
    throw notFound(NO_EVENTS_FOR_FILE);
  }

  /** The newest event of the file older than `report` that is not a damage report; the report itself when there is none. */
  private async beforeDamageReports(owner: string, fileId: string, report: SyncEventRecord): Promise<SyncEventRecord> {
    for (let beforeSeq = report.seq; ; ) {
      const page = await this.store.list({ owner, fileId, beforeSeq, limit: DEFAULT_PAGE_SIZE });
      const found = page.find((e) => !isDamageReport(e.eventType));
      if (found) return found;
      if (page.length < DEFAULT_PAGE_SIZE) return report;
      beforeSeq = page.at(-1)!.seq;
    }
  }

  /** One of the caller's events; another user's answers like an unknown id. */
  async get(principal: Principal, eventId: string): Promise<SyncEventRecord> {
    const id = checkUuid(eventId, "event_id");
    const event = await this.store.get(principal.subject, id);
    if (!event) throw notFound("sync event not found");
    return event;
  }
}

function checkPageSize(pageSize: number): number {
  if (!Number.isInteger(pageSize) || pageSize < 0) throw invalidArgument("page_size must not be negative");
  return pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(pageSize, MAX_PAGE_SIZE);
}

/** Lowercased, so an id matches however the client capitalised it. */
function checkUuid(value: string, field: string): string {
  if (!UUID.test(value)) throw invalidArgument(`${field} must be a UUID`);
  return value.toLowerCase();
}

function isEventStatus(value: string): value is EventStatus {
  return (EVENT_STATUSES as readonly string[]).includes(value);
}

function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}

function toNewEvent(event: IncomingEvent, at: string, recordedAt: Date): NewSyncEvent {
  const eventId = checkUuid(event.eventId, `${at}.event_id`);
  const fileId = checkUuid(event.fileId, `${at}.file_id`);
  if (!isEventType(event.eventType)) throw invalidArgument(`${at}.event_type must be one of ${EVENT_TYPES.join(", ")}`);
  if (event.owner === "" || event.owner.length > MAX_OWNER_LENGTH) {
    throw invalidArgument(`${at}.owner must be 1 to ${MAX_OWNER_LENGTH} characters`);
  }
  if (Buffer.byteLength(event.name) > MAX_NAME_BYTES) throw invalidArgument(`${at}.name is longer than ${MAX_NAME_BYTES} bytes`);
  if (!Number.isInteger(event.version) || event.version < 0 || event.version > INT32_MAX) {
    throw invalidArgument(`${at}.version must be a non-negative int32`);
  }
  if (!Number.isSafeInteger(event.size) || event.size < 0) throw invalidArgument(`${at}.size must be a non-negative integer`);
  if (event.sha256 !== "" && !SHA256_HEX.test(event.sha256)) {
    throw invalidArgument(`${at}.sha256 must be 64 lowercase hex characters`);
  }
  // An upload or update describes new content that background verification
  // will check against this version and hash; a delete may leave them empty.
  if (!isRemoval(event.eventType)) {
    if (event.name === "") throw invalidArgument(`${at}.name is required for ${event.eventType} events`);
    if (event.version < 1) throw invalidArgument(`${at}.version must be at least 1 for ${event.eventType} events`);
    if (event.sha256 === "") throw invalidArgument(`${at}.sha256 is required for ${event.eventType} events`);
  }
  const chunks = event.chunkSha256s ?? [];
  if (chunks.length > MAX_CHUNKS_PER_EVENT) throw invalidArgument(`${at}.chunk_sha256s holds more than ${MAX_CHUNKS_PER_EVENT} hashes`);
  chunks.forEach((hash, i) => {
    if (!SHA256_HEX.test(hash)) throw invalidArgument(`${at}.chunk_sha256s[${i}] must be 64 lowercase hex characters`);
  });
  // Only a delete's chunks are verified (what became of them); an upload's
  // chunk list is read from metadata, which is the authority on it.
  if (chunks.length > 0 && event.eventType !== "delete") {
    throw invalidArgument(`${at}.chunk_sha256s is only for delete events`);
  }
  const occurredAt = event.occurredAt;
  if (occurredAt !== undefined && Number.isNaN(occurredAt.getTime())) throw invalidArgument(`${at}.created_at is not a valid time`);
  return {
    eventId,
    fileId,
    owner: event.owner,
    eventType: event.eventType,
    status: "pending",
    attempts: 0,
    errorMessage: "",
    name: event.name,
    version: event.version,
    size: event.size,
    sha256: event.sha256,
    createdAt: occurredAt ?? recordedAt,
    updatedAt: recordedAt,
    chunkSha256s: [...new Set(chunks)],
  };
}
