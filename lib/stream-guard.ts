import { int, type Env } from "./config.js";
import { CfsError } from "./errors.js";

/**
 * How slow a client's request stream may be (checklist 23). Only time the
 * server spends waiting for the client counts: while the server itself is
 * behind (backpressure: it stopped reading), the clock stops, so a slow
 * store never gets a fast client cut off.
 */
export interface StreamLimits {
  /** The longest wait for the next message (or body bytes). */
  readonly idleMs: number;
  /** The least a stream must deliver per second of waiting, over each window; 0 turns the rate check off. */
  readonly minBytesPerSecond: number;
  /** The waiting time each rate check covers. */
  readonly windowMs: number;
}

/**
 * CFS_STREAM_IDLE_SECONDS (default 60: nginx's client_body_timeout),
 * CFS_STREAM_MIN_BYTES_PER_SECOND (default 1024; 0 turns the rate check off)
 * and CFS_STREAM_RATE_WINDOW_SECONDS (default 60). Read by every service for
 * its client-streaming calls and by the edge for request bodies.
 */
export function parseStreamLimits(env: Env): StreamLimits {
  return {
    idleMs: int(env, "CFS_STREAM_IDLE_SECONDS", 60, 1, 86_400) * 1000,
    minBytesPerSecond: int(env, "CFS_STREAM_MIN_BYTES_PER_SECOND", 1024, 0),
    windowMs: int(env, "CFS_STREAM_RATE_WINDOW_SECONDS", 60, 1, 86_400) * 1000,
  };
}

/** The status a stream cut off for slowness ends with: DEADLINE_EXCEEDED over gRPC, 408 at the edge. */
export class SlowClientError extends CfsError {
  constructor(message: string) {
    super("deadline-exceeded", message);
    this.name = "SlowClientError";
  }
}

/**
 * The bookkeeping of one request stream against StreamLimits, with no timer
 * of its own: the reader calls wait() when it starts waiting, received()
 * when bytes arrive, and check() when the delay wait() or check() returned
 * has passed with nothing received. received() and check() throw a
 * SlowClientError when the stream is too slow.
 */
export class StreamGuard {
  /** Waiting time and bytes of the current rate window. */
  private windowWaitedMs = 0;
  private windowBytes = 0;
  /** When the current wait began, and when it began to count for the current window. */
  private waitingSince: number | undefined;
  private windowWaitSince: number | undefined;

  constructor(
    private readonly limits: StreamLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** The reader is waiting for the client; returns the ms after which check() must run. */
  wait(): number {
    const now = this.now();
    this.waitingSince = now;
    this.windowWaitSince = now;
    return this.msUntilCheck(now);
  }

  /** Bytes arrived (ending the wait, if one was running). */
  received(bytes: number): void {
    const now = this.now();
    if (this.windowWaitSince !== undefined) this.windowWaitedMs += now - this.windowWaitSince;
    this.waitingSince = undefined;
    this.windowWaitSince = undefined;
    this.windowBytes += bytes;
    if (this.windowWaitedMs >= this.limits.windowMs) this.closeWindow(this.windowWaitedMs);
  }

  /** The delay has passed and the reader is still waiting: fails an idle or slow stream, else returns the next delay. */
  check(): number {
    const now = this.now();
    if (this.waitingSince === undefined || this.windowWaitSince === undefined) return this.msUntilCheck(now);
    if (now - this.waitingSince >= this.limits.idleMs) {
      throw new SlowClientError(`no data from the client for ${seconds(this.limits.idleMs)} s`);
    }
    const waited = this.windowWaitedMs + (now - this.windowWaitSince);
    if (waited >= this.limits.windowMs) {
      this.closeWindow(waited);
      this.windowWaitSince = now;
    }
    return this.msUntilCheck(now);
  }

  /** Ends a rate window: too few bytes for the time waited fails the stream, else a new window starts. */
  private closeWindow(waitedMs: number): void {
    const { minBytesPerSecond } = this.limits;
    if (minBytesPerSecond > 0 && this.windowBytes < (minBytesPerSecond * waitedMs) / 1000) {
      throw new SlowClientError(
        `the client sent ${this.windowBytes} bytes in ${seconds(waitedMs)} s, less than the minimum of ${minBytesPerSecond} bytes per second`,
      );
    }
    this.windowWaitedMs = 0;
    this.windowBytes = 0;
  }

  private msUntilCheck(now: number): number {
    const idleLeft = this.limits.idleMs - (this.waitingSince === undefined ? 0 : now - this.waitingSince);
    if (this.limits.minBytesPerSecond <= 0) return Math.max(0, idleLeft);
    const windowLeft = this.limits.windowMs - this.windowWaitedMs - (this.windowWaitSince === undefined ? 0 : now - this.windowWaitSince);
    return Math.max(0, Math.min(idleLeft, windowLeft));
  }
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;
