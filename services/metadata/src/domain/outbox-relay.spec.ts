import { describe, expect, it, vi } from "vitest";
import { CfsError } from "#lib/errors.js";
import { createLogger } from "#lib/logger.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { EventSink } from "../ports/event-sink.js";
import type { OutboxStore } from "../ports/outbox-store.js";
import { strictFake } from "../../../../tests/support/strict-fake.js";
import { estimatedBytes, OutboxRelay } from "./outbox-relay.js";
import type { OutboxEvent } from "./types.js";

const log = createLogger("test", "silent");
const service: CallIdentity = { token: "service-token" };
const identity = vi.fn(async () => service);
const hash = (n: number) => n.toString(16).padStart(64, "0");

describe("OutboxRelay", () => {
  const event = (seq: number): OutboxEvent => ({
    seq: String(seq),
    eventId: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    owner: "alice",
    fileId: "00000000-0000-4000-8000-000000000000",
    eventType: "upload",
    name: "a",
    version: 1,
    size: 1,
    sha256: hash(seq),
    chunkSha256s: [],
    createdAt: new Date(),
  });

  it("sends the oldest batch as the service, then removes exactly those events", async () => {
    const events = [event(1), event(2)];
    const removeEvents = vi.fn(async () => undefined);
    const recordEvents = vi.fn(async () => 2);
    const relay = new OutboxRelay(strictFake<OutboxStore>({ pendingEvents: async () => events, removeEvents }), { recordEvents }, identity, log, { batchSize: 2 });
    expect(await relay.relayOnce()).toBe(true);
    expect(recordEvents).toHaveBeenCalledWith(events, service);
    expect(removeEvents).toHaveBeenCalledWith(["1", "2"]);
  });

  it("sends with the run's signal, so stopping cancels the call, and keeps the events it could not send", async () => {
    const stopping = new AbortController();
    const removeEvents = vi.fn();
    const withSignal = vi.fn(async (signal?: AbortSignal): Promise<CallIdentity> => ({ ...service, signal }));
    // A sync service that never answers: only the signal ends the call.
    const sink: EventSink = {
      recordEvents: (_, as) =>
        new Promise((_, reject) => {
          as.signal?.addEventListener("abort", () => reject(new Error("RecordEvents: call cancelled")), { once: true });
          stopping.abort();
        }),
    };
    const relay = new OutboxRelay(strictFake<OutboxStore>({ pendingEvents: async () => [event(1)], removeEvents }), sink, withSignal, log);
    await expect(relay.relayOnce(stopping.signal)).rejects.toThrow("call cancelled");
    expect(withSignal).toHaveBeenCalledWith(stopping.signal);
    expect(removeEvents).not.toHaveBeenCalled();
  });

  it("keeps the events when the sync service fails", async () => {
    const removeEvents = vi.fn();
    const sink: EventSink = { recordEvents: async () => Promise.reject(new Error("unavailable")) };
    const relay = new OutboxRelay(strictFake<OutboxStore>({ pendingEvents: async () => [event(1)], removeEvents }), sink, identity, log);
    await expect(relay.relayOnce()).rejects.toThrow("unavailable");
    expect(removeEvents).not.toHaveBeenCalled();
  });

  it("splits a batch whose delete events list many chunks, in order, under the byte budget", async () => {
    const big = (seq: number): OutboxEvent => ({ ...event(seq), eventType: "delete", chunkSha256s: Array.from({ length: 20 }, (_, i) => hash(seq * 100 + i)) });
    const events = [big(1), big(2), big(3)];
    const removeEvents = vi.fn(async () => undefined);
    const recordEvents = vi.fn(async (batch: readonly OutboxEvent[]) => batch.length);
    const budget = estimatedBytes(events[0]!) * 2;
    const relay = new OutboxRelay(strictFake<OutboxStore>({ pendingEvents: async () => events, removeEvents }), { recordEvents }, identity, log, { maxBatchBytes: budget });
    expect(await relay.relayOnce()).toBe(true);
    expect(recordEvents).toHaveBeenCalledWith(events.slice(0, 2), service);
    expect(removeEvents).toHaveBeenCalledWith(["1", "2"]);
    // An event alone over the budget still goes, by itself.
    const tiny = new OutboxRelay(strictFake<OutboxStore>({ pendingEvents: async () => events, removeEvents }), { recordEvents }, identity, log, { maxBatchBytes: 10 });
    expect(await tiny.relayOnce()).toBe(true);
    expect(recordEvents).toHaveBeenLastCalledWith(events.slice(0, 1), service);
  });

  it("sets aside an event the sync service refuses, alone, and relays the events around it in order (checklist 40)", async () => {
    const events = [event(1), event(2), event(3), event(4)];
    let outbox = [...events];
    const setAside: Array<[string, string]> = [];
    const sent: string[][] = [];
    const recordEvents = vi.fn(async (batch: readonly OutboxEvent[]) => {
      sent.push(batch.map((e) => e.seq));
      if (batch.some((e) => e.seq === "2")) throw new CfsError("invalid-argument", "events[1].name is not valid UTF-8");
      return batch.length;
    });
    const counted: string[] = [];
    const relay = new OutboxRelay(
      strictFake<OutboxStore>({
        pendingEvents: async () => outbox,
        removeEvents: async (seqs) => void (outbox = outbox.filter((e) => !seqs.includes(e.seq))),
        setAside: async (e, reason) => {
          setAside.push([e.seq, reason]);
          outbox = outbox.filter((o) => o.seq !== e.seq);
        },
      }),
      { recordEvents },
      identity,
      log,
      { onSetAside: (e) => counted.push(e.seq) },
    );
    await relay.relayOnce();
    expect(sent).toEqual([["1", "2", "3", "4"], ["1"], ["2"], ["3"], ["4"]]);
    expect(setAside).toEqual([["2", "events[1].name is not valid UTF-8"]]);
    expect(counted).toEqual(["2"]);
    expect(outbox).toEqual([]);
  });

  it("keeps events the sync service could not take for now (not a refusal), without setting any aside", async () => {
    const setAside = vi.fn();
    const sink: EventSink = { recordEvents: async () => Promise.reject(new CfsError("unavailable", "sync is restarting")) };
    const relay = new OutboxRelay(strictFake<OutboxStore>({ pendingEvents: async () => [event(1), event(2)], setAside }), sink, identity, log);
    await expect(relay.relayOnce()).rejects.toMatchObject({ kind: "unavailable" });
    expect(setAside).not.toHaveBeenCalled();
  });

  it("reports no more work on an empty or partial batch", async () => {
    const relay = new OutboxRelay(strictFake<OutboxStore>({ pendingEvents: async () => [] }), { recordEvents: vi.fn() }, identity, log);
    expect(await relay.relayOnce()).toBe(false);
  });
});
