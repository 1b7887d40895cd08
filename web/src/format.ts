/**
 * Pure helpers of the page (no DOM): byte sizes, the proto3 JSON values the
 * REST API sends (int64 as strings, enums as names), and what an error tells
 * a person to do. Unit-tested in tests/web/format.test.ts.
 */

/** proto3 JSON int64 (a string, or a number from lenient servers) as a number. */
export function int64(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^-?\d+$/.test(value)) return Number(value);
  return 0;
}

/** An RFC 3339 timestamp as a Date, or undefined. */
export function timestamp(value: unknown): Date | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export type SyncState = "pending" | "processing" | "completed" | "failed" | "unknown";

const SYNC_STATES: Record<string, SyncState> = {
  EVENT_STATUS_PENDING: "pending",
  EVENT_STATUS_PROCESSING: "processing",
  EVENT_STATUS_COMPLETED: "completed",
  EVENT_STATUS_FAILED: "failed",
  "1": "pending",
  "2": "processing",
  "3": "completed",
  "4": "failed",
};

/** sync.v1.EventStatus as proto3 JSON (the enum's name, or its number). */
export function syncState(value: unknown): SyncState {
  return SYNC_STATES[String(value)] ?? "unknown";
}

export const SYNC_LABELS: Record<SyncState, string> = {
  pending: "Pending",
  processing: "Verifying",
  completed: "Synced",
  failed: "Sync failed",
  unknown: "Unknown",
};

/** True while the sync service may still change the state (worth asking again). */
export function syncSettled(state: SyncState): boolean {
  return state === "completed" || state === "failed";
}

/**
 * What to tell a person about a failed call: the server's message (the REST
 * API answers {"code", "message"}) and, by HTTP status, what they can do.
 */
export function describeFailure(status: number, message: string): string {
  const detail = message.trim();
  switch (status) {
    case 0:
      return "Could not reach the server. Check your connection and try again.";
    case 400:
      return detail ? `The server refused the request: ${detail}.` : "The server refused the request.";
    case 401:
      return "Your session has ended. Sign in again.";
    case 403:
      return "You are not allowed to do that.";
    case 404:
      return "That file no longer exists. It may have been deleted elsewhere; refresh the list.";
    case 409:
      return detail ? `Conflict: ${detail}. Refresh the list and try again.` : "Conflict. Refresh the list and try again.";
    case 413:
      return "The file is larger than the server accepts.";
    case 429:
      if (/quota/i.test(detail)) return "Not enough space left: your quota is used up. Delete files or empty the trash, then try again.";
      return "Too many requests right now. Wait a moment and try again.";
    case 503:
    case 502:
    case 504:
      return "The service is unavailable right now. Try again in a moment.";
    default:
      return detail && status < 500 ? `${detail}.` : `Something went wrong on the server (HTTP ${status}). Try again; if it keeps failing, tell your administrator.`;
  }
}

/** A short "1 file" / "3 files" phrase. */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
