import { Duplex, PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { CfsError } from "./errors.js";
import { readRequests, RequestSizes, type RequestStream } from "./request-stream.js";
import { SlowClientError } from "./stream-guard.js";

/** An object-mode stream standing in for grpc-js's request stream. */
function requestStream(): PassThrough & { cancelled: boolean } {
  return Object.assign(new PassThrough({ objectMode: true }), { cancelled: false });
}

async function collect<T>(messages: AsyncIterable<T>): Promise<T[]> {
  const seen: T[] = [];
  for await (const m of messages) seen.push(m);
  return seen;
}

describe("readRequests", () => {
  it("leaves a request stream whose response side is still open undestroyed when its messages end", async () => {
    // grpc-js's request stream of a client-streaming call is such a duplex.
    const stream = Object.assign(new Duplex({ objectMode: true, read() {}, write(_m, _e, done) { done(); } }), { cancelled: false });
    stream.push({ n: 1 });
    stream.push(null);
    expect(await collect(readRequests(stream as RequestStream<unknown>, new AbortController().signal))).toEqual([{ n: 1 }]);
    expect(stream.destroyed).toBe(false);
    expect(stream.errored).toBeNull();
  });

  it("stops reading a request stream whose handler stopped early", async () => {
    const stream = requestStream();
    stream.write({ n: 1 });
    stream.write({ n: 2 });
    for await (const m of readRequests(stream as RequestStream<unknown>, new AbortController().signal)) {
      expect(m).toEqual({ n: 1 });
      break;
    }
    expect(stream.destroyed).toBe(true);
  });

  it("yields the messages of a stream the client completed", async () => {
    const stream = requestStream();
    stream.write({ n: 1 });
    stream.end({ n: 2 });
    expect(await collect(readRequests(stream as RequestStream<unknown>, new AbortController().signal))).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it("fails instead of ending normally when the call was cancelled", async () => {
    const stream = requestStream();
    stream.cancelled = true;
    stream.end({ n: 1 });
    await expect(collect(readRequests(stream as RequestStream<unknown>, new AbortController().signal))).rejects.toMatchObject({ kind: "cancelled" });
  });

  it("fails with the signal's reason when it aborts mid-stream", async () => {
    const stream = requestStream();
    const abort = new AbortController();
    const reading = collect(readRequests(stream as RequestStream<unknown>, abort.signal));
    stream.write({ n: 1 });
    abort.abort(new CfsError("deadline-exceeded", "too slow"));
    await expect(reading).rejects.toMatchObject({ kind: "deadline-exceeded", message: "too slow" });
    expect(stream.destroyed).toBe(true);
  });

  it("with a guard, fails a stream that trickles too slowly and stops reading it", async () => {
    const stream = requestStream();
    const sizes = new Map<unknown, number>();
    const guard = { limits: { idleMs: 1_000, minBytesPerSecond: 1_000, windowMs: 200 }, sizeOf: (m: unknown) => sizes.get(m) ?? 0 };
    const reading = collect(readRequests(stream as RequestStream<unknown>, new AbortController().signal, guard));
    const first = { n: 1 };
    sizes.set(first, 10);
    stream.write(first);
    // 10 bytes in the 200 ms window: under the 1000 B/s minimum.
    await expect(reading).rejects.toBeInstanceOf(SlowClientError);
    expect(stream.destroyed).toBe(true);
  });

  it("with a guard, lets a stream through that keeps up", async () => {
    const stream = requestStream();
    const guard = { limits: { idleMs: 1_000, minBytesPerSecond: 10, windowMs: 50 }, sizeOf: () => 100 };
    const reading = collect(readRequests(stream as RequestStream<unknown>, new AbortController().signal, guard));
    for (let i = 0; i < 5; i++) {
      stream.write({ i });
      await new Promise((r) => setTimeout(r, 20));
    }
    stream.end();
    expect(await reading).toHaveLength(5);
  });
});

describe("RequestSizes", () => {
  it("notes the wire size of each decoded message", () => {
    const sizes = new RequestSizes();
    const codec = sizes.measure({ requestDeserialize: (b: Buffer) => ({ text: b.toString() }) });
    const message = codec.requestDeserialize(Buffer.from("hello"));
    expect(message).toEqual({ text: "hello" });
    expect(sizes.sizeOf(message)).toBe(5);
    expect(sizes.sizeOf({ text: "hello" })).toBe(0);
  });
});
