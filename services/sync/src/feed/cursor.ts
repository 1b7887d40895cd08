import { invalidArgument } from "#lib/errors.js";

/**
 * Feed cursors are opaque to clients: base64url JSON of a format version and
 * the owner's own seq of the last change the client has seen (version 2;
 * version 1 held the log's global seq, which moved with other users'
 * activity). The version lets a later format refuse old cursors explicitly.
 */
interface CursorBody {
  v: 2;
  /** The client has seen every change of its owner with owner seq <= s. */
  s: number;
}

/** A cursor of an earlier format: the client lists its files again and watches from an empty cursor. */
export const OUTDATED_CURSOR = -1;

export function encodeCursor(seq: number): string {
  const body: CursorBody = { v: 2, s: seq };
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

/** The seq a cursor stands for (OUTDATED_CURSOR for a version 1 cursor); INVALID_ARGUMENT for anything we did not issue. */
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
  const { v, s } = body as { v?: unknown; s?: unknown };
  if (v === 1 && Number.isSafeInteger(s) && (s as number) >= 0) return OUTDATED_CURSOR;
  if (v !== 2 || typeof s !== "number" || !Number.isSafeInteger(s) || s < 0) throw bad();
  return s;
}
