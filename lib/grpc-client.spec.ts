import { EventEmitter } from "node:events";
import { Metadata, status, type ClientReadableStream } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { boundedDeadline, collectBytes } from "./grpc-client.js";

/** A stand-in for a grpc-js server stream: emits what the test says. */
function fakeStream() {
  const emitter = new EventEmitter() as EventEmitter & { cancelled: boolean; cancel(): void };
  emitter.cancelled = false;
  emitter.cancel = () => {
    emitter.cancelled = true;
    emitter.emit("error", Object.assign(new Error("cancelled"), { code: status.CANCELLED, details: "cancelled", metadata: new Metadata() }));
  };
  return emitter;
}
const asStream = (s: ReturnType<typeof fakeStream>) => s as unknown as ClientReadableStream<{ data: Buffer }>;

describe("collectBytes", () => {
  it("concatenates the messages", async () => {
    const s = fakeStream();
    const bytes = collectBytes(asStream(s), (m) => m.data, 10, "GetChunk");
    s.emit("data", { data: Buffer.from("abc") });
    s.emit("data", { data: Buffer.from("de") });
    s.emit("end");
    expect((await bytes).toString()).toBe("abcde");
  });

  it("cancels a stream longer than the limit and reports DATA_LOSS, not the cancellation", async () => {
    const s = fakeStream();
    const bytes = collectBytes(asStream(s), (m) => m.data, 4, "GetChunk");
    s.emit("data", { data: Buffer.from("abcde") });
    await expect(bytes).rejects.toMatchObject({ kind: "data-loss", message: expect.stringContaining("longer than 4 bytes") });
    expect(s.cancelled).toBe(true);
  });

  it("maps a downstream status to a domain error", async () => {
    const s = fakeStream();
    const bytes = collectBytes(asStream(s), (m) => m.data, 4, "GetChunk");
    s.emit("error", Object.assign(new Error("nope"), { code: status.NOT_FOUND, details: "chunk not found", metadata: new Metadata() }));
    await expect(bytes).rejects.toMatchObject({ kind: "not-found", message: "chunk not found" });
  });
});

describe("boundedDeadline", () => {
  it("keeps an earlier caller deadline and caps a later or missing one", () => {
    const soon = new Date(Date.now() + 1000);
    expect(boundedDeadline({ token: "t", deadline: soon }, 60_000)).toBe(soon);
    const capped = boundedDeadline({ token: "t", deadline: new Date(Date.now() + 3_600_000) }, 60_000).getTime();
    expect(capped).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(boundedDeadline({ token: "t" }, 60_000).getTime()).toBeLessThanOrEqual(Date.now() + 60_000);
  });
});
