import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { CfsError, type ErrorKind } from "#lib/errors.js";
import type { EventType } from "../domain/types.js";
import { ChangeFeed, type ChangeFeedOptions, type FeedMessage } from "./change-feed.js";
import type { ChangeLog, ChangePage, FeedChange, LogBounds } from "./change-log.js";
import { decodeCursor, encodeCursor } from "./cursor.js";

/** An in-memory log with the SQLite log's semantics: seqs are per owner. */
class MemoryLog implements ChangeLog {
  rows: Array<FeedChange & { owner: string }> = [];
  head = 0;
  ownerHeads = new Map<string, number>();
  reads = 0;
  limits: number[] = [];

  append(owner: string, eventType: EventType = "upload"): number {
    this.head++;
    const seq = (this.ownerHeads.get(owner) ?? 0) + 1;
    this.ownerHeads.set(owner, seq);
    this.rows.push({
      owner,
      seq,
      fileId: randomUUID(),
      name: `file-${this.head}`,
      eventType,
      version: 1,
      size: seq,
      sha256: "a".repeat(64),
      committedAt: new Date(this.head * 1000),
    });
    return seq;
  }

  async bounds(owner: string): Promise<LogBounds> {
    const head = this.ownerHeads.get(owner) ?? 0;
    const min = this.rows.find((r) => r.owner === owner)?.seq;
    return { oldest: min === undefined ? head : min - 1, head };
  }

  async latest(): Promise<number> {
    return this.head;
  }

  async changesAfter(owner: string, afterSeq: number, limit: number): Promise<ChangePage> {
    this.reads++;
    this.limits.push(limit);
    const changes = this.rows
      .filter((r) => r.owner === owner && r.seq > afterSeq)
      .slice(0, limit)
      .map(({ owner: _owner, ...change }) => change);
    return { ...(await this.bounds(owner)), changes };
  }

  async pruneBefore(cutoff: Date): Promise<number> {
    const before = this.rows.length;
    const firstKept = this.rows.findIndex((r) => r.committedAt >= cutoff);
    this.rows = firstKept === -1 ? [] : this.rows.slice(firstKept);
    return before - this.rows.length;
  }

  close(): void {}
}

const alice = { subject: "alice", isService: false };
const bob = { subject: "bob", isService: false };
const feeds: ChangeFeed[] = [];
const controllers: AbortController[] = [];

afterEach(() => {
  for (const c of controllers.splice(0)) c.abort();
  for (const f of feeds.splice(0)) f.close();
});

function setup(options: ChangeFeedOptions = {}) {
  const log = new MemoryLog();
  let subscribers = 0;
  const feed = new ChangeFeed(log, {
    heartbeatMs: 60_000,
    safetyPollMs: 60_000,
    subscribers: { inc: () => subscribers++, dec: () => subscribers-- },
    ...options,
  });
  feeds.push(feed);
  return { log, feed, subscribers: () => subscribers };
}

/** Pulls messages from a stream one at a time, with a timeout per message. */
function open(feed: ChangeFeed, principal = alice, cursor = "") {
  const controller = new AbortController();
  controllers.push(controller);
  const stream = feed.watch(principal, cursor, controller.signal);
  // A next() that timed out is still pending: the following call waits for it instead of losing its message.
  let pending: Promise<IteratorResult<FeedMessage>> | undefined;
  return {
    controller,
    stream,
    async next(timeoutMs = 2_000): Promise<FeedMessage> {
      let timer: NodeJS.Timeout | undefined;
      const current = (pending ??= stream.next());
      const result = await Promise.race([
        current,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("no message")), timeoutMs))),
      ]).finally(() => clearTimeout(timer));
      pending = undefined;
      if (result.done) throw new Error("stream ended");
      return result.value;
    },
    /** The next n changes, skipping heartbeats. */
    async changes(n: number): Promise<FeedMessage[]> {
      const out: FeedMessage[] = [];
      while (out.length < n) {
        const m = await this.next();
        if (m.change) out.push(m);
      }
      return out;
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<CfsError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(CfsError);
    return err as CfsError;
  }
  throw new Error("did not fail");
}

async function failsWith(promise: Promise<unknown>, kind: ErrorKind, message?: RegExp): Promise<void> {
  const err = await failure(promise);
  expect(err.kind).toBe(kind);
  if (message) expect(err.message).toMatch(message);
}

describe("ChangeFeed.watch", () => {
  it("sends the backlog after a cursor in order, then a caught-up heartbeat at the owner's head", async () => {
    const { log, feed } = setup();
    for (let i = 0; i < 10; i++) log.append(i % 3 === 0 ? "bob" : "alice");
    // alice has seqs 1-6 of her own; bob's events take no numbers of hers.
    const s = open(feed, alice, encodeCursor(2));
    const seqs: number[] = [];
    let m = await s.next();
    while (m.change) {
      expect(decodeCursor(m.cursor)).toBe(m.change.seq);
      seqs.push(m.change.seq);
      m = await s.next();
    }
    expect(seqs).toEqual([3, 4, 5, 6]);
    expect(m).toEqual({ change: undefined, cursor: encodeCursor(6) });
  });

  it("gives a user cursors that other users' activity never moves (checklist 42)", async () => {
    const { log, feed } = setup();
    log.append("alice");
    const s = open(feed, alice, encodeCursor(0));
    expect((await s.next()).change?.seq).toBe(1);
    const caughtUp = await s.next();
    for (let i = 0; i < 50; i++) log.append("bob");
    feed.notify(["alice"]);
    log.append("alice");
    feed.notify(["alice"]);
    const next = await s.next();
    expect(next.change?.seq).toBe(2);
    expect(decodeCursor(caughtUp.cursor)).toBe(1);
    // A stream opened from scratch starts at alice's own head.
    const fresh = open(feed, alice, "");
    expect((await fresh.next()).cursor).toBe(encodeCursor(2));
  });

  it("refuses a cursor of the earlier, global format with FAILED_PRECONDITION", async () => {
    const { feed } = setup();
    const v1 = Buffer.from(JSON.stringify({ v: 1, s: 3 })).toString("base64url");
    await expect(open(feed, alice, v1).next()).rejects.toMatchObject({ kind: "failed-precondition" });
  });

  it("reads the backlog a page at a time", async () => {
    const { log, feed } = setup({ pageSize: 7 });
    for (let i = 0; i < 30; i++) log.append("alice");
    const s = open(feed, alice, encodeCursor(0));
    expect((await s.changes(30)).map((m) => m.change!.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(log.limits.every((l) => l === 7)).toBe(true);
    expect(log.reads).toBe(5);
  });

  it("starts from the current head with an empty cursor and sends only later changes", async () => {
    const { log, feed } = setup();
    log.append("alice");
    log.append("alice");
    const s = open(feed);
    expect(await s.next()).toEqual({ change: undefined, cursor: encodeCursor(2) });
    const seq = log.append("alice");
    feed.notify(["alice"]);
    const m = await s.next();
    expect(m.change?.seq).toBe(seq);
    expect(m.cursor).toBe(encodeCursor(3));
  });

  it("wakes only the subscribers of the owners notified", async () => {
    const { log, feed } = setup();
    const a = open(feed, alice);
    const b = open(feed, bob);
    await a.next();
    await b.next();
    log.append("bob");
    const readsBefore = log.reads;
    feed.notify(["bob"]);
    expect((await b.next()).change?.name).toBe("file-1");
    expect(log.reads).toBe(readsBefore + 1);
    await expect(a.next(100)).rejects.toThrow(/no message/);
  });

  it("never misses a change recorded while a page is being read", async () => {
    const { log, feed } = setup();
    const s = open(feed);
    await s.next();
    // Recorded and notified before the stream reads again.
    log.append("alice");
    feed.notify(["alice"]);
    log.append("alice");
    feed.notify(["alice"]);
    expect((await s.changes(2)).map((m) => m.change!.seq)).toEqual([1, 2]);
  });

  it("resumes exactly after the cursor of any message, once each", async () => {
    const { log, feed } = setup({ pageSize: 4 });
    for (let i = 0; i < 20; i++) log.append(i % 2 ? "alice" : "bob");
    const first = open(feed, alice, encodeCursor(0));
    const all = await first.changes(10);
    first.controller.abort();
    const resumed = open(feed, alice, all[3]!.cursor);
    const rest = await resumed.changes(6);
    expect(rest.map((m) => m.change!.seq)).toEqual(all.slice(4).map((m) => m.change!.seq));
    expect((await resumed.next()).change).toBeUndefined();
  });

  it("sends a heartbeat with the same cursor after heartbeatMs without a message", async () => {
    const { log, feed } = setup({ heartbeatMs: 50 });
    log.append("alice");
    const s = open(feed, alice, encodeCursor(0));
    expect((await s.next()).change?.seq).toBe(1);
    expect(await s.next()).toEqual({ change: undefined, cursor: encodeCursor(1) });
    const started = Date.now();
    expect(await s.next()).toEqual({ change: undefined, cursor: encodeCursor(1) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
  });

  it("finds unnotified changes through the safety poll", async () => {
    const { log, feed } = setup({ safetyPollMs: 30 });
    feed.start();
    const s = open(feed);
    await s.next();
    await new Promise((r) => setTimeout(r, 50));
    log.append("alice");
    expect((await s.next(1_000)).change?.seq).toBe(1);
  });

  it("refuses a garbage cursor with INVALID_ARGUMENT", async () => {
    await failsWith(open(setup().feed, alice, "not a cursor").next(), "invalid-argument", /cursor is invalid/);
  });

  it("refuses a cursor older than what is kept with FAILED_PRECONDITION", async () => {
    const { log, feed } = setup();
    for (let i = 0; i < 5; i++) log.append("alice");
    await log.pruneBefore(new Date(3500));
    // Changes 1-3 are gone: resuming after 3 is fine, after 2 would skip 3.
    expect((await open(feed, alice, encodeCursor(3)).next()).change?.seq).toBe(4);
    await failsWith(open(feed, alice, encodeCursor(2)).next(), "failed-precondition", /list your files again/);
  });

  it("refuses a cursor beyond the head (another history) with FAILED_PRECONDITION", async () => {
    const { log, feed } = setup();
    log.append("alice");
    await failsWith(open(feed, alice, encodeCursor(2)).next(), "failed-precondition", /not issued by this change history/);
  });

  it("fails an open stream whose unsent changes were pruned", async () => {
    const { log, feed } = setup({ pageSize: 2 });
    for (let i = 0; i < 6; i++) log.append("alice");
    const s = open(feed, alice, encodeCursor(0));
    await s.next();
    await s.next();
    // The stream has scanned up to 2; 3 and 4 go before its next page.
    await log.pruneBefore(new Date(5000));
    await failsWith(s.next(), "failed-precondition");
  });

  it("keeps an idle stream valid while other users' old events are pruned", async () => {
    const { log, feed } = setup();
    const s = open(feed);
    await s.next();
    log.append("bob");
    log.append("bob");
    feed.notify(["alice"]); // a spurious wake: alice reads up to the head
    await expect(s.next(100)).rejects.toThrow(/no message/);
    await log.pruneBefore(new Date(10_000));
    log.append("alice");
    feed.notify(["alice"]);
    expect((await s.next()).change?.seq).toBe(1);
  });

  it("ends on abort and unregisters the subscriber", async () => {
    const { feed, subscribers } = setup();
    const s = open(feed);
    await s.next();
    expect(subscribers()).toBe(1);
    expect(feed.subscriberCount).toBe(1);
    const pending = s.stream.next();
    s.controller.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(subscribers()).toBe(0);
    expect(feed.subscriberCount).toBe(0);
  });

  it("ends open streams with UNAVAILABLE on close and refuses new ones", async () => {
    const { feed, subscribers } = setup();
    const s = open(feed);
    await s.next();
    const pending = s.stream.next();
    feed.close();
    await failsWith(pending, "unavailable", /shutting down/);
    expect(subscribers()).toBe(0);
    await failsWith(open(feed).next(), "unavailable");
  });
});
