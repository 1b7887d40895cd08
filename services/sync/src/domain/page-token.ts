import { invalidArgument } from "#lib/errors.js";

/**
 * Page tokens are opaque to clients: base64url JSON of the id of the last
 * event of the page (the next page holds the caller's events older than it)
 * and the filters they were issued for. An event id, not the log's seq: a
 * seq counts every user's events, so the gap between two tokens would tell
 * how busy other users were (checklist 42). Binding the filters makes a
 * token reused with other filters fail instead of silently paging a
 * different listing.
 */
interface Cursor {
  /** The next page holds the events older than this one (its event id). */
  e: string;
  /** The file_id filter of the listing ("" for none). */
  f: string;
  /** The status filter (absent for none; tokens issued before it existed have none). */
  st?: string;
  /** The event type filter (absent for none). */
  t?: string;
}

/** The filters a listing was asked with; "" means none. */
export interface ListingFilters {
  fileId: string;
  status: string;
  eventType: string;
}

export function encodePageToken(afterEventId: string, filters: ListingFilters): string {
  const cursor: Cursor = { e: afterEventId, f: filters.fileId };
  if (filters.status !== "") cursor.st = filters.status;
  if (filters.eventType !== "") cursor.t = filters.eventType;
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/** The event id the page starts after; INVALID_ARGUMENT for anything we did not issue for these filters. */
export function decodePageToken(token: string, filters: ListingFilters): string {
  const bad = () => invalidArgument("page_token is invalid");
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(token)) throw bad();
  let cursor: unknown;
  try {
    cursor = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (typeof cursor !== "object" || cursor === null) throw bad();
  const { e, f, st = "", t = "" } = cursor as Partial<Cursor>;
  if (typeof e !== "string" || !EVENT_ID.test(e) || typeof f !== "string") throw bad();
  if (typeof st !== "string" || typeof t !== "string") throw bad();
  if (f !== filters.fileId) throw invalidArgument("page_token was issued for another file_id filter");
  if (st !== filters.status || t !== filters.eventType) throw invalidArgument("page_token was issued for other status or event_type filters");
  return e;
}

const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
