import type { Principal } from "#lib/auth.js";
import { failedPrecondition, unavailable } from "#lib/errors.js";
import type { ChangeLog, FeedChange } from "./change-log.js";
import { decodeCursor, encodeCursor, OUTDATED_CURSOR } from "./cursor.js";

/** One message of a WatchChanges stream: a change, or a heartbeat (change undefined). */
export interface FeedMessage {
  change: FeedChange | undefined;
  /** Resume after this message by passing it back. */
  cursor: string;
}

/** The subscriber gauge, as far as the feed needs it. */
export interface SubscriberGauge {
  inc(): void;
  dec(): void;
}

export interface ChangeFeedOptions {
  /** Changes read from the log per query (bounds memory per subscriber). */
  pageSize?: number;
  /** A heartbeat goes out after this long without a message. */
  heartbeatMs?: number;
  /**
   * How often the feed checks the log's head by itself, in case a writer
   * did not notify it (another process on the same file). One query for all
   * subscribers.
   */
  safetyPollMs?: number;
  subscribers?: SubscriberGauge;
  now?: () => number;
}

export const DEFAULT_PAGE_SIZE = 500;
export const DEFAULT_HEARTBEAT_MS = 25_000;
export const DEFAULT_SAFETY_POLL_MS = 10_000;

interface Subscriber {
  owner: string;
  /** Set when the owner's changes may have been recorded since the last read. */
  dirty: boolean;
  /** Ends the current wait early. */
  wake: (() => void) | undefined;
}

const expired = () =>
  failedPrecondition(
    "cursor is older than the change history the service keeps: list your files again (ListFiles), then watch from an empty cursor",
  );
const foreignCursor = () =>
  failedPrecondition("cursor was not issued by this change history: list your files again (ListFiles), then watch from an empty cursor");
const shuttingDown = () => unavailable("the sync service is shutting down: reconnect with your last cursor");

/**
 * The caller's changes in log (seq) order, resumable from a cursor, then
 * live. Writers call `notify` after recording events; subscribers of those
 * owners wake and read from the log, a page at a time, so memory per
 * subscriber stays bounded however far behind it is.
 */
export class ChangeFeed {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly pageSize: number;
  private readonly heartbeatMs: number;
  private readonly safetyPollMs: number;
  private readonly now: () => number;
  private poll: NodeJS.Timeout | undefined;
  private polling = false;
  private knownHead: number | undefined;
  private closed = false;

  constructor(
    private readonly log: ChangeLog,
    private readonly options: ChangeFeedOptions = {},
  ) {
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.safetyPollMs = options.safetyPollMs ?? DEFAULT_SAFETY_POLL_MS;
    this.now = options.now ?? Date.now;
  }

  /** How many streams are open. */
  get subscriberCount(): number {
    let n = 0;
    for (const set of this.subscribers.values()) n += set.size;
    return n;
  }

  /** Events of these owners were recorded: their subscribers read the log again. */
  notify(owners: Iterable<string>): void {
    for (const owner of new Set(owners)) {
      for (const sub of this.subscribers.get(owner) ?? []) this.wake(sub);
    }
  }

  /** Starts the safety poll. */
  start(): void {
    if (this.poll || this.closed) return;
    this.poll = setInterval(() => void this.safetyPoll(), this.safetyPollMs);
    this.poll.unref();
  }

  /** Ends every stream with UNAVAILABLE (clients reconnect with their cursor) and refuses new ones. */
  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    this.poll = undefined;
    for (const set of this.subscribers.values()) for (const sub of set) this.wake(sub);
  }

  /**
   * The stream of one WatchChanges call. An empty cursor starts at the
   * current head. Once the backlog is sent, a heartbeat (no change, a
   * cursor at the scanned head) says the client is caught up; then changes follow as they
   * are recorded, with a heartbeat after heartbeatMs without a message.
   * Ends when `signal` aborts; throws UNAVAILABLE when the feed closes.
   */
  async *watch(principal: Principal, cursor: string, signal: AbortSignal): AsyncGenerator<FeedMessage> {
    if (this.closed) throw shuttingDown();
    const requested = cursor === "" ? undefined : decodeCursor(cursor);
    const sub: Subscriber = { owner: principal.subject, dirty: false, wake: undefined };
    // Registered before the first read: a change recorded meanwhile marks it dirty.
    this.add(sub);
    try {
      const bounds = await this.log.bounds(sub.owner);
      if (requested === OUTDATED_CURSOR || (requested !== undefined && requested > bounds.head)) throw foreignCursor();
      if (requested !== undefined && requested < bounds.oldest) throw expired();
      let after = requested ?? bounds.head;
      // Every change of the owner up to `scanned` has been sent.
      let scanned = after;
      let lastSent = this.now();
      let caughtUp = false;
      let read = true;
      // A heartbeat's cursor moves up to what was scanned: the owner's own
      // head (other users' events never move it). SQLite has a single
      // writer, so every seq up to a snapshot's head is committed.
      const heartbeat = (): FeedMessage => {
        lastSent = this.now();
        after = Math.max(after, scanned);
        return { change: undefined, cursor: encodeCursor(after) };
      };

      for (;;) {
        if (signal.aborted) return;
        if (this.closed) throw shuttingDown();
        if (read) {
          sub.dirty = false;
          const page = await this.log.changesAfter(sub.owner, after, this.pageSize);
          // Changes between what was sent and what is kept were pruned: resuming would skip them.
          if (page.oldest > scanned) throw expired();
          for (const change of page.changes) {
            if (signal.aborted) return;
            yield { change, cursor: encodeCursor(change.seq) };
            after = change.seq;
            lastSent = this.now();
          }
          if (page.changes.length === this.pageSize) {
            scanned = after;
            continue;
          }
          scanned = Math.max(after, page.head);
          read = false;
          if (!caughtUp) {
            caughtUp = true;
            yield heartbeat();
          }
          continue;
        }
        if (sub.dirty) {
          read = true;
          continue;
        }
        const idle = this.now() - lastSent;
        if (idle >= this.heartbeatMs) {
          yield heartbeat();
          continue;
        }
        await this.wait(sub, this.heartbeatMs - idle, signal);
      }
    } finally {
      this.remove(sub);
    }
  }

  private add(sub: Subscriber): void {
    let set = this.subscribers.get(sub.owner);
    if (!set) this.subscribers.set(sub.owner, (set = new Set()));
    set.add(sub);
    this.options.subscribers?.inc();
  }

  private remove(sub: Subscriber): void {
    const set = this.subscribers.get(sub.owner);
    if (!set?.delete(sub)) return;
    if (set.size === 0) this.subscribers.delete(sub.owner);
    this.options.subscribers?.dec();
  }

  private wake(sub: Subscriber): void {
    sub.dirty = true;
    sub.wake?.();
  }

  /** Resolves on a wake-up, after `ms`, on abort, or at once when already dirty. */
  private wait(sub: Subscriber, ms: number, signal: AbortSignal): Promise<void> {
    if (sub.dirty || this.closed || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        sub.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      sub.wake = done;
    });
  }

  /** Wakes everyone when the head moved without a notification. */
  private async safetyPoll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      const head = await this.log.latest();
      if (this.knownHead !== undefined && head !== this.knownHead) {
        for (const set of this.subscribers.values()) for (const sub of set) this.wake(sub);
      }
      this.knownHead = head;
    } catch {
      // The health check reports a broken database; the next poll tries again.
    } finally {
      this.polling = false;
    }
  }
}
