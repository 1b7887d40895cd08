import { setTimeout as sleep } from "node:timers/promises";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { WatchChangesResponse } from "#gen/cfs/sync/v1/sync.js";
import { isServiceError } from "#lib/errors.js";
import type { Connection } from "../rpc.js";

export interface FeedHandlers {
  /** The cursor to (re)connect with. */
  cursor(): string;
  /** Called for each message in order; must not block (queue work instead). */
  message(message: WatchChangesResponse): void;
  /** The cursor is too old or unknown: the caller lists everything again; the feed reconnects from now. */
  expired(reason: string): void;
  /** A line for the user about the connection. */
  notice(text: string): void;
}

export interface FeedOptions {
  /** Reconnect when nothing (not even a heartbeat, every ~25 s) arrived for this long. */
  idleMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Stops following (besides the connection's signal, which means Ctrl-C). */
  signal?: AbortSignal;
}

/**
 * Follows SyncService.WatchChanges until the connection's signal aborts,
 * reconnecting with the latest cursor after any failure, with exponential
 * backoff and jitter. Only a refused token ends it (by throwing).
 */
export async function followChanges(conn: Connection, handlers: FeedHandlers, options: FeedOptions = {}): Promise<void> {
  const idleMs = options.idleMs ?? 75_000;
  const minBackoff = options.minBackoffMs ?? 500;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  const signal = options.signal ? AbortSignal.any([conn.signal, options.signal]) : conn.signal;
  let backoff = minBackoff;
  let connected = false;
  while (!signal.aborted) {
    const call = conn.sync.watchChanges({ cursor: handlers.cursor() }, conn.auth);
    // A cancelled call still emits its status; the loop below reads errors itself.
    call.on("error", () => undefined);
    const cancel = () => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    let idle = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        idle = true;
        call.cancel();
      }, idleMs);
    };
    let reason = "the server ended the stream";
    arm();
    try {
      for await (const message of call as AsyncIterable<WatchChangesResponse>) {
        arm();
        if (!connected) {
          connected = true;
          handlers.notice("following remote changes");
        }
        backoff = minBackoff;
        handlers.message(message);
      }
    } catch (err) {
      if (signal.aborted) return;
      if (!isServiceError(err)) throw err;
      if (err.code === GrpcStatus.FAILED_PRECONDITION || err.code === GrpcStatus.INVALID_ARGUMENT) {
        handlers.expired(err.details);
        continue;
      }
      if (err.code === GrpcStatus.UNAUTHENTICATED || err.code === GrpcStatus.PERMISSION_DENIED) throw err;
      reason = idle ? `no message for ${Math.round(idleMs / 1000)} s` : `${GrpcStatus[err.code] ?? err.code}: ${err.details}`;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", cancel);
    }
    if (signal.aborted) return;
    connected = false;
    const delay = Math.round(backoff * (1 + Math.random() / 4));
    handlers.notice(`change feed disconnected (${reason}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
    await sleep(delay, undefined, { signal }).catch(() => undefined);
    backoff = Math.min(backoff * 2, maxBackoff);
  }
}

/**
 * The current head of the caller's feed: the cursor of the first message of
 * a stream opened with an empty cursor (the service sends a heartbeat as
 * soon as it is caught up).
 */
export async function headCursor(conn: Connection, timeoutMs = 30_000): Promise<string> {
  const call = conn.sync.watchChanges({ cursor: "" }, conn.auth, { deadline: Date.now() + timeoutMs });
  call.on("error", () => undefined);
  const release = conn.cancelOnAbort(call);
  try {
    for await (const message of call as AsyncIterable<WatchChangesResponse>) return message.cursor;
    throw new Error("the change feed ended without a message");
  } finally {
    call.cancel();
    release();
  }
}
