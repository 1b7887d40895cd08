import { invalidArgument } from "#lib/errors.js";

/**
 * Feed cursors are opaque to clients: base64url JSON of a format version and
 * the seq of the last change the client has seen. The version lets a later
 * format (another store, a sharded log) refuse old cursors explicitly.
 */
interface CursorBody {
  v: 1;
  /** The client has seen every change with seq <= s. */
  s: number;
}

export function encodeCursor(seq: number): string {
  const body: CursorBody = { v: 1, s: seq };
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

/** The seq a cursor stands for; INVALID_ARGUMENT for anything we did not issue. */
export function decodeCursor(cursor: string): number {
  const bad = () => invalidArgument("cursor is invalid: pass back a cursor WatchChanges sent, or an empty one to start from now");
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw bad();
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw bad();
  const { v, s } = body as Partial<CursorBody>;
  if (v !== 1 || typeof s !== "number" || !Number.isSafeInteger(s) || s < 0) throw bad();
  return s;
}
