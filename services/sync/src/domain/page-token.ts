import { invalidArgument } from "../../../../lib/errors.js";

/**
 * Page tokens are opaque to clients: base64url JSON of the seq the next page
 * starts below and the file filter they were issued for. Binding the filter
 * makes a token reused with another filter fail instead of silently paging
 * a different listing.
 */
interface Cursor {
  /** The next page holds events with seq < s. */
  s: number;
  /** The file_id filter of the listing ("" for none). */
  f: string;
}

export function encodePageToken(beforeSeq: number, fileId: string): string {
  const cursor: Cursor = { s: beforeSeq, f: fileId };
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/** The seq the page starts below; INVALID_ARGUMENT for anything we did not issue for this filter. */
export function decodePageToken(token: string, fileId: string): number {
  const bad = () => invalidArgument("page_token is invalid");
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(token)) throw bad();
  let cursor: unknown;
  try {
    cursor = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (typeof cursor !== "object" || cursor === null) throw bad();
  const { s, f } = cursor as Partial<Cursor>;
  if (typeof s !== "number" || !Number.isSafeInteger(s) || s < 1 || typeof f !== "string") throw bad();
  if (f !== fileId) throw invalidArgument("page_token was issued for another file_id filter");
  return s;
}
