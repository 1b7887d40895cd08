import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CfsError, type ErrorKind } from "#lib/errors.js";
import type { FileDamage } from "../ports/peers.js";
import type { StoredEventsQuery, SyncEventStore } from "../ports/sync-event-store.js";
import { DEFAULT_PAGE_SIZE, MAX_CHUNKS_PER_EVENT, MAX_EVENTS_PER_BATCH, MAX_PAGE_SIZE, SyncEvents } from "./sync-events.js";
import type { IncomingEvent, NewSyncEvent, SyncEventRecord } from "./types.js";

const relay = { subject: "metadata@clients", isService: true };
const alice = { subject: "alice", isService: false };
const bob = { subject: "bob", isService: false };
const NOW = new Date("2030-01-02T03:04:05.678Z");
const SHA = "ab".repeat(32);

/** The port's contract in memory: dedupe on event_id, newest first, owner-scoped. */
class MemoryStore implements SyncEventStore {
  rows: SyncEventRecord[] = [];
  lastQuery: StoredEventsQuery | undefined;

  async insertNew(events: readonly NewSyncEvent[]): Promise<number> {
    let inserted = 0;
    for (const event of events) {
      if (this.rows.some((r) => r.eventId === event.eventId)) continue;
      this.rows.push({ ...event, seq: this.rows.length + 1 });
      inserted++;
    }
    return inserted;
  }

  async list(query: StoredEventsQuery): Promise<SyncEventRecord[]> {
    this.lastQuery = query;
    return this.rows
      .filter((r) => r.owner === query.owner && (query.fileId === undefined || r.fileId === query.fileId))
      .filter((r) => (query.status === undefined || r.status === query.status) && (query.eventType === undefined || r.eventType === query.eventType))
      .filter((r) => query.beforeSeq === undefined || r.seq < query.beforeSeq)
      .sort((a, b) => b.seq - a.seq)
      .slice(0, query.limit);
  }

  async get(owner: string, eventId: string): Promise<SyncEventRecord | undefined> {
    return this.rows.find((r) => r.owner === owner && r.eventId === eventId);
  }

  async ping(): Promise<void> {}
  close(): void {}
}

function setup() {
  const store = new MemoryStore();
  const committed = new Set<string>();
  const files = { isCommitted: async (owner: string, fileId: string) => committed.has(`${owner}/${fileId}`) };
  const damaged = new Map<string, string>();
  const probed: Array<AbortSignal | undefined> = [];
  const damage: FileDamage = {
    damageOf: async (owner: string, fileId: string, signal?: AbortSignal) => {
      probed.push(signal);
      const message = damaged.get(`${owner}/${fileId}`);
      return message === undefined ? { kind: "whole" } : { kind: "damaged", message };
    },
  };
  return { store, committed, damaged, probed, events: new SyncEvents(store, files, damage, () => NOW) };
}

function event(overrides: Partial<IncomingEvent> = {}): IncomingEvent {
  return {
    eventId: randomUUID(),
    fileId: randomUUID(),
    owner: "alice",
    eventType: "upload",
    name: "docs/a.txt",
    version: 1,
    size: 10,
    sha256: SHA,
    ...overrides,
  };
}

async function failsWith(promise: Promise<unknown>, kind: ErrorKind, message?: RegExp): Promise<CfsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CfsError);
  expect((err as CfsError).kind).toBe(kind);
  if (message) expect((err as CfsError).message).toMatch(message);
  return err as CfsError;
}

describe("SyncEvents.record", () => {
  it("refuses callers without a service identity", async () => {
    const { store, events } = setup();
    await failsWith(events.record(alice, [event()]), "permission-denied");
    expect(store.rows).toHaveLength(0);
  });

  it("records new events as pending with no attempts, stamped with the commit and record times", async () => {
    const { store, events } = setup();
    const committed = new Date("2030-01-01T00:00:00Z");
    expect(await events.record(relay, [event({ occurredAt: committed }), event()])).toBe(2);
    const [first, second] = store.rows;
    expect(first).toMatchObject({ status: "pending", attempts: 0, errorMessage: "", createdAt: committed, updatedAt: NOW });
    expect(second).toMatchObject({ createdAt: NOW, updatedAt: NOW });
  });

  it("counts only events not seen before", async () => {
    const { events } = setup();
    const e = event();
    expect(await events.record(relay, [e])).toBe(1);
    expect(await events.record(relay, [e, event()])).toBe(1);
  });

  it("stores ids in lowercase so differently-cased relays dedupe", async () => {
    const { store, events } = setup();
    const e = event();
    await events.record(relay, [{ ...e, eventId: e.eventId.toUpperCase(), fileId: e.fileId.toUpperCase() }]);
    expect(store.rows[0]).toMatchObject({ eventId: e.eventId, fileId: e.fileId });
    expect(await events.record(relay, [e])).toBe(0);
  });

  it("accepts an empty batch", async () => {
    expect(await setup().events.record(relay, [])).toBe(0);
  });

  it("accepts a delete without content attributes", async () => {
    const { events } = setup();
    expect(await events.record(relay, [event({ eventType: "delete", name: "", version: 0, size: 0, sha256: "" })])).toBe(1);
  });

  it.each<[string, Partial<IncomingEvent>, RegExp]>([
    ["a non-UUID event_id", { eventId: "42" }, /events\[1\]\.event_id must be a UUID/],
    ["a non-UUID file_id", { fileId: "../etc" }, /file_id must be a UUID/],
    ["an unspecified type", { eventType: "" }, /event_type must be one of upload, update, delete, move, restore, trash, undelete, purge/],
    ["an unknown type", { eventType: "rename" }, /event_type/],
    ["no owner", { owner: "" }, /owner/],
    ["an overlong owner", { owner: "x".repeat(513) }, /owner/],
    ["an uppercase sha256", { sha256: SHA.toUpperCase() }, /sha256 must be 64 lowercase hex/],
    ["a short sha256", { sha256: "abc" }, /sha256/],
    ["an upload without sha256", { sha256: "" }, /sha256 is required for upload/],
    ["an update without a name", { eventType: "update", name: "" }, /name is required for update/],
    ["an upload at version 0", { version: 0 }, /version must be at least 1/],
    ["a negative version", { eventType: "delete", version: -1 }, /version must be a non-negative int32/],
    ["a version beyond int32", { version: 2 ** 31 }, /version/],
    ["a negative size", { size: -1 }, /size must be a non-negative integer/],
    ["a fractional size", { size: 1.5 }, /size/],
    ["an overlong name", { name: "é".repeat(513) }, /name is longer than 1024 bytes/],
    ["an invalid commit time", { occurredAt: new Date(Number.NaN) }, /created_at/],
  ])("rejects the whole batch for %s", async (_, overrides, message) => {
    const { store, events } = setup();
    await failsWith(events.record(relay, [event(), event(overrides)]), "invalid-argument", message);
    expect(store.rows).toHaveLength(0);
  });

  it("bounds the batch size", async () => {
    const batch = Array.from({ length: MAX_EVENTS_PER_BATCH + 1 }, () => event());
    await failsWith(setup().events.record(relay, batch), "invalid-argument", /at most/);
  });
});

describe("SyncEvents.list", () => {
  async function seeded(count: number, overrides: Partial<IncomingEvent> = {}) {
    const s = setup();
    await s.events.record(relay, Array.from({ length: count }, () => event(overrides)));
    return s;
  }

  it("lists only the caller's events, newest first", async () => {
    const { events } = await seeded(3);
    await events.record(relay, [event({ owner: "bob" })]);
    const page = await events.list(alice, { pageSize: 0, pageToken: "", fileId: "" });
    expect(page.events.map((e) => e.seq)).toEqual([3, 2, 1]);
    expect(page.nextPageToken).toBe("");
    expect((await events.list(bob, { pageSize: 0, pageToken: "", fileId: "" })).events).toHaveLength(1);
  });

  it("pages with opaque tokens until the last page, which has none", async () => {
    const { events } = await seeded(5);
    const seen: number[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await events.list(alice, { pageSize: 2, pageToken, fileId: "" });
      seen.push(...page.events.map((e) => e.seq));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "");
    expect(seen).toEqual([5, 4, 3, 2, 1]);
    expect(pages).toBe(3);
  });

  it("gives no next token when the page ends exactly at the last event", async () => {
    const { events } = await seeded(2);
    expect((await events.list(alice, { pageSize: 2, pageToken: "", fileId: "" })).nextPageToken).toBe("");
  });

  it("defaults and caps the page size", async () => {
    const { store, events } = setup();
    await events.list(alice, { pageSize: 0, pageToken: "", fileId: "" });
    expect(store.lastQuery?.limit).toBe(DEFAULT_PAGE_SIZE + 1);
    await events.list(alice, { pageSize: 100_000, pageToken: "", fileId: "" });
    expect(store.lastQuery?.limit).toBe(MAX_PAGE_SIZE + 1);
    await failsWith(events.list(alice, { pageSize: -1, pageToken: "", fileId: "" }), "invalid-argument", /page_size/);
  });

  it("filters by file, lowercasing the id", async () => {
    const fileId = randomUUID();
    const { events } = await seeded(2, { fileId });
    await events.record(relay, [event()]);
    const page = await events.list(alice, { pageSize: 0, pageToken: "", fileId: fileId.toUpperCase() });
    expect(page.events.map((e) => e.fileId)).toEqual([fileId, fileId]);
  });

  it("rejects a non-UUID file filter", async () => {
    await failsWith(setup().events.list(alice, { pageSize: 0, pageToken: "", fileId: "x" }), "invalid-argument", /file_id must be a UUID/);
  });

  it.each(["garbage!", "bm90IGpzb24", Buffer.from('{"s":-1,"f":""}').toString("base64url"), Buffer.from("[]").toString("base64url")])(
    "rejects the page token %s",
    async (pageToken) => {
      await failsWith(setup().events.list(alice, { pageSize: 0, pageToken, fileId: "" }), "invalid-argument", /page_token/);
    },
  );

  it("rejects a token reused with another file filter", async () => {
    const { events } = await seeded(3);
    const { nextPageToken } = await events.list(alice, { pageSize: 1, pageToken: "", fileId: "" });
    await failsWith(events.list(alice, { pageSize: 1, pageToken: nextPageToken, fileId: randomUUID() }), "invalid-argument", /page_token/);
  });
});

describe("SyncEvents.list filters", () => {
  it("filters by status and event type, and binds page tokens to the filters", async () => {
    const { store, events } = setup();
    await events.record(relay, [event(), event({ eventType: "delete" }), event(), event({ eventType: "delete" })]);
    store.rows[0]!.status = "completed";
    store.rows[1]!.status = "failed";
    const pending = await events.list(alice, { pageSize: 0, pageToken: "", fileId: "", status: "pending" });
    expect(pending.events.map((e) => e.seq)).toEqual([4, 3]);
    const deletes = await events.list(alice, { pageSize: 1, pageToken: "", fileId: "", eventType: "delete" });
    expect(deletes.events.map((e) => e.seq)).toEqual([4]);
    expect(store.lastQuery).toMatchObject({ eventType: "delete", status: undefined });
    const next = await events.list(alice, { pageSize: 1, pageToken: deletes.nextPageToken, fileId: "", eventType: "delete" });
    expect(next.events.map((e) => e.seq)).toEqual([2]);
    await failsWith(
      events.list(alice, { pageSize: 1, pageToken: deletes.nextPageToken, fileId: "", eventType: "upload" }),
      "invalid-argument",
      /other status or event_type filters/,
    );
    await failsWith(events.list(alice, { pageSize: 1, pageToken: deletes.nextPageToken, fileId: "" }), "invalid-argument", /page_token/);
    expect((await events.list(alice, { pageSize: 0, pageToken: "", fileId: "", status: "failed", eventType: "delete" })).events.map((e) => e.seq)).toEqual([2]);
  });

  it("pages with tokens naming the caller's own last event, never the log's seq (checklist 42)", async () => {
    const { events } = setup();
    await events.record(relay, [event(), event({ owner: "bob" }), event(), event({ owner: "bob" }), event()]);
    const first = await events.list(alice, { pageSize: 2, pageToken: "", fileId: "" });
    const token = JSON.parse(Buffer.from(first.nextPageToken, "base64url").toString()) as Record<string, unknown>;
    expect(token).toEqual({ e: first.events[1]!.eventId, f: "" });
    const second = await events.list(alice, { pageSize: 2, pageToken: first.nextPageToken, fileId: "" });
    expect(second.events.map((e) => e.seq)).toEqual([1]);
    // Tokens of the earlier format carried a seq: refused, the client lists from the start.
    const legacy = Buffer.from(JSON.stringify({ s: 3, f: "" })).toString("base64url");
    await failsWith(events.list(alice, { pageSize: 0, pageToken: legacy, fileId: "" }), "invalid-argument", /page_token/);
    // Another user's event id is no anchor for alice.
    const bobs = (await events.list(bob, { pageSize: 1, pageToken: "", fileId: "" })).nextPageToken;
    await failsWith(events.list(alice, { pageSize: 1, pageToken: bobs, fileId: "" }), "invalid-argument", /page_token/);
  });

  it("rejects unknown filter values", async () => {
    const { events } = setup();
    await failsWith(events.list(alice, { pageSize: 0, pageToken: "", fileId: "", status: "?" }), "invalid-argument", /status must be/);
    await failsWith(events.list(alice, { pageSize: 0, pageToken: "", fileId: "", eventType: "?" }), "invalid-argument", /event_type must be/);
  });
});

describe("SyncEvents.fileStatus", () => {
  it("answers the newest event of the caller's file", async () => {
    const { events } = setup();
    const fileId = randomUUID();
    await events.record(relay, [event({ fileId }), event({ fileId, eventType: "update", version: 2 }), event()]);
    const status = await events.fileStatus(alice, fileId.toUpperCase());
    expect(status.fileId).toBe(fileId);
    expect(status.latest).toMatchObject({ seq: 2, eventType: "update", version: 2 });
  });

  it("says which file is damaged now, and stops saying so once it is healed", async () => {
    const { events, damaged } = setup();
    const fileId = randomUUID();
    await events.record(relay, [event({ fileId })]);
    expect((await events.fileStatus(alice, fileId)).damage).toBeUndefined();
    damaged.set(`alice/${fileId}`, "version 1 is damaged: 1 of its 2 chunks are not in block storage");
    expect(await events.fileStatus(alice, fileId)).toMatchObject({ status: "pending", damage: expect.stringContaining("damaged") });
    damaged.delete(`alice/${fileId}`);
    expect((await events.fileStatus(alice, fileId)).damage).toBeUndefined();
  });

  it("checks for damage under the request's signal, so a client that goes away stops the calls to the peers", async () => {
    const { events, probed } = setup();
    const fileId = randomUUID();
    await events.record(relay, [event({ fileId })]);
    const request = new AbortController();
    await events.fileStatus(alice, fileId, request.signal);
    expect(probed).toEqual([request.signal]);
  });

  it("counts a damage report while the file is damaged, and the newest other event once an upload healed it", async () => {
    const { events, damaged, store } = setup();
    const fileId = randomUUID();
    await events.record(relay, [event({ fileId })]);
    store.rows[0]!.status = "completed";
    damaged.set(`alice/${fileId}`, "version 1 is damaged: 1 of its 2 chunks are not in block storage");
    await events.record(relay, [event({ fileId, eventType: "damaged" }), event({ fileId, eventType: "damaged" })]);
    for (const row of store.rows.slice(1)) row.status = "failed";
    expect(await events.fileStatus(alice, fileId)).toMatchObject({ status: "failed", latest: { seq: 3, eventType: "damaged" }, damage: expect.stringContaining("damaged") });
    damaged.delete(`alice/${fileId}`);
    const healed = await events.fileStatus(alice, fileId);
    expect(healed).toMatchObject({ status: "completed", latest: { seq: 1, eventType: "upload" } });
    expect(healed.damage).toBeUndefined();
    // Only damage reports kept: the newest one stands.
    store.rows.shift();
    expect(await events.fileStatus(alice, fileId)).toMatchObject({ status: "failed", latest: { seq: 3 } });
  });

  it("answers pending for a committed file of the caller whose first event has not arrived", async () => {
    const { events, committed } = setup();
    const fileId = randomUUID();
    committed.add(`alice/${fileId}`);
    expect(await events.fileStatus(alice, fileId)).toEqual({ fileId, status: "pending", latest: undefined });
    await failsWith(events.fileStatus(bob, fileId), "not-found");
  });

  it("answers another user's file exactly like a file without events", async () => {
    const { events } = setup();
    const fileId = randomUUID();
    await events.record(relay, [event({ fileId })]);
    const foreign = await failsWith(events.fileStatus(bob, fileId), "not-found");
    const unknown = await failsWith(events.fileStatus(bob, randomUUID()), "not-found");
    expect(foreign.message).toBe(unknown.message);
    await failsWith(events.fileStatus(alice, "nope"), "invalid-argument", /file_id must be a UUID/);
  });
});

describe("SyncEvents.record: chunk hashes", () => {
  const h = (n: number) => n.toString(16).padStart(64, "0");

  it("keeps a delete's distinct chunk hashes for verification", async () => {
    const { store, events } = setup();
    await events.record(relay, [event({ eventType: "delete", chunkSha256s: [h(1), h(2), h(1)] })]);
    expect((store.rows[0] as NewSyncEvent).chunkSha256s).toEqual([h(1), h(2)]);
  });

  it.each([
    ["a malformed hash", { eventType: "delete", chunkSha256s: [h(1), "XYZ"] }, /chunk_sha256s\[1\] must be 64 lowercase hex/],
    ["hashes on an upload", { chunkSha256s: [h(1)] }, /chunk_sha256s is only for delete events/],
    ["too many hashes", { eventType: "delete", chunkSha256s: Array.from({ length: MAX_CHUNKS_PER_EVENT + 1 }, (_, i) => h(i)) }, /more than/],
  ])("rejects the batch for %s", async (_, overrides, message) => {
    const { store, events } = setup();
    await failsWith(events.record(relay, [event(overrides)]), "invalid-argument", message);
    expect(store.rows).toHaveLength(0);
  });
});

describe("SyncEvents.get", () => {
  it("returns the caller's event", async () => {
    const { events } = setup();
    const e = event();
    await events.record(relay, [e]);
    expect(await events.get(alice, e.eventId.toUpperCase())).toMatchObject({ eventId: e.eventId, owner: "alice" });
  });

  it("answers another user's event exactly like an unknown one", async () => {
    const { events } = setup();
    const e = event();
    await events.record(relay, [e]);
    const foreign = await failsWith(events.get(bob, e.eventId), "not-found");
    const unknown = await failsWith(events.get(bob, randomUUID()), "not-found");
    expect(foreign.message).toBe(unknown.message);
  });

  it("rejects a non-UUID id", async () => {
    await failsWith(setup().events.get(alice, "1 OR 1=1"), "invalid-argument", /event_id must be a UUID/);
  });
});
