import { invalidArgument } from "#lib/errors.js";

/**
 * Page tokens are opaque to clients: base64url JSON of the seq the next page
 * starts below and the filters they were issued for. Binding the filters
 * makes a token reused with other filters fail instead of silently paging
 * a different listing.
 */
interface Cursor {
  /** The next page holds events with seq < s. */
  s: number;
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

export function encodePageToken(beforeSeq: number, filters: ListingFilters): string {
  const cursor: Cursor = { s: beforeSeq, f: filters.fileId };
  if (filters.status !== "") cursor.st = filters.status;
  if (filters.eventType !== "") cursor.t = filters.eventType;
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/** The seq the page starts below; INVALID_ARGUMENT for anything we did not issue for these filters. */
export function decodePageToken(token: string, filters: ListingFilters): number {
  const bad = () => invalidArgument("page_token is invalid");
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(token)) throw bad();
  let cursor: unknown;
  try {
    cursor = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (typeof cursor !== "object" || cursor === null) throw bad();
  const { s, f, st = "", t = "" } = cursor as Partial<Cursor>;
  if (typeof s !== "number" || !Number.isSafeInteger(s) || s < 1 || typeof f !== "string") throw bad();
  if (typeof st !== "string" || typeof t !== "string") throw bad();
  if (f !== filters.fileId) throw invalidArgument("page_token was issued for another file_id filter");
  if (st !== filters.status || t !== filters.eventType) throw invalidArgument("page_token was issued for other status or event_type filters");
  return s;
}
