import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BufferPool } from "./buffer-pool.js";
import { messageInPlace, withHeadroom, zeroCopyFraming } from "./grpc-framing.js";
import { bytesMethod, loopbackGrpc } from "./loopback-grpc.spec-support.js";
import { afterWritten, MAX_UNSENT_MESSAGES, writeResponses, type ResponseSink } from "./response-stream.js";

/** A call whose writes complete only when the test says so. */
function heldSink() {
  const writes: Array<{ message: unknown; complete: (err?: Error) => void }> = [];
  const arrivals: Array<() => void> = [];
  const sink: ResponseSink = {
    write: (message, written) => {
      writes.push({ message, complete: (err?: Error) => written(err) });
      arrivals.splice(0).forEach((wake) => wake());
      return true;
    },
  };
  /** Resolves once `n` messages were handed on. */
  const handedOn = async (n: number) => {
    while (writes.length < n) await new Promise<void>((wake) => arrivals.push(wake));
  };
  return { sink, writes, handedOn };
}

/** A handler's stream of `count` messages that says how far it got and whether it cleaned up. */
function handler(count: number) {
  const state = { asked: 0, cleanedUp: false };
  async function* messages() {
    try {
      for (let i = 0; i < count; i++) {
        state.asked += 1;
        yield `m${i}`;
      }
    } finally {
      state.cleanedUp = true;
    }
  }
  return { state, messages: messages() };
}

describe("writeResponses", () => {
  it(`asks for the next message only while fewer than ${MAX_UNSENT_MESSAGES} wait to be written`, async () => {
    const { sink, writes, handedOn } = heldSink();
    const h = handler(5);
    const done = writeResponses(sink, h.messages, new AbortController().signal);
    await handedOn(MAX_UNSENT_MESSAGES);
    // Both handed on, neither written: the handler was not asked for a third.
    expect(h.state.asked).toBe(MAX_UNSENT_MESSAGES);
    writes[0]!.complete();
    await handedOn(3);
    expect(h.state.asked).toBe(3);
    for (let i = 1; i < 5; i++) {
      await handedOn(Math.min(i + 2, 5));
      writes[i]!.complete();
    }
    await done;
    expect(writes.map((w) => w.message)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
  });

  it("stops at once when the call is aborted while a write is pending, failing with the reason, and lets the handler clean up", async () => {
    const { sink, handedOn } = heldSink();
    const h = handler(100);
    const call = new AbortController();
    const done = writeResponses(sink, h.messages, call.signal);
    await handedOn(MAX_UNSENT_MESSAGES);
    call.abort(new Error("client went away"));
    await expect(done).rejects.toThrow("client went away");
    await expect.poll(() => h.state.cleanedUp).toBe(true);
    expect(h.state.asked).toBe(MAX_UNSENT_MESSAGES);
  });

  it("runs a message's afterWritten step once it is written, not before and not when its write failed", async () => {
    const { sink, writes, handedOn } = heldSink();
    const ran: string[] = [];
    async function* messages() {
      yield afterWritten({ n: 0 }, () => ran.push("m0"));
      yield { n: 1 };
      yield afterWritten({ n: 2 }, () => ran.push("m2"));
    }
    const done = writeResponses(sink, messages(), new AbortController().signal);
    await handedOn(2);
    expect(ran).toEqual([]);
    writes[0]!.complete();
    expect(ran).toEqual(["m0"]);
    writes[1]!.complete();
    await handedOn(3);
    writes[2]!.complete(new Error("stream reset"));
    await done;
    expect(ran).toEqual(["m0"]);
  });
});

/**
 * The moment afterWritten reports is safe for reusing a message's memory: a
 * real grpc-js stream whose chunk buffers come from a pool, are sent in
 * place (no copy) and are overwritten and given back as soon as reported
 * written, read by a client that holds back at first, so most of the bytes
 * wait behind HTTP/2's flow control while later chunks are being made.
 */
describe("afterWritten through a real grpc-js call", () => {
  const CHUNK_BYTES = 256 * 1024;
  const CHUNKS = 24;
  const pool = new BufferPool(4 * CHUNK_BYTES);
  const taken = new Set<ArrayBufferLike>();
  let made = 0;
  const definition = {
    chunks: bytesMethod("/cfs.test.Pool/Chunks", { requestStream: false, responseStream: true }, { response: (b) => Buffer.from(b) }),
  } satisfies grpc.ServiceDefinition;
  let client: grpc.Client & { chunks(request: Buffer): grpc.ClientReadableStream<Buffer> };
  let close: () => void;

  async function* chunks() {
    for (let i = 0; i < CHUNKS; i++) {
      const payload = withHeadroom(CHUNK_BYTES, pool).fill(i);
      taken.add(payload.buffer);
      made += 1;
      const message = messageInPlace(payload, 0)!;
      yield afterWritten(message, () => {
        payload.fill(0xee); // what a reuse would do to bytes still on their way
        pool.give(payload.buffer);
      });
    }
  }

  beforeAll(async () => {
    expect(zeroCopyFraming()).toBe(true);
    ({ client, close } = await loopbackGrpc<typeof client>(definition, {
      chunks: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        void writeResponses(call, chunks(), new AbortController().signal).then(() => call.end());
      },
    }));
  });

  afterAll(() => close());

  it("reports a message only once its bytes left: every chunk arrives intact although its memory was overwritten and reused", async () => {
    const call = client.chunks(Buffer.alloc(0));
    call.pause();
    const received: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on("end", resolve);
      call.on("error", reject);
    });
    // Held back until the server has handed on what flow control lets through.
    await expect.poll(() => made, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    call.on("data", (b: Buffer) => received.push(b));
    call.resume();
    await ended;
    expect(received).toHaveLength(CHUNKS);
    received.forEach((b, i) => expect(b.equals(Buffer.alloc(CHUNK_BYTES, i)), `chunk ${i}`).toBe(true));
    // Memory went round: far fewer buffers were made than chunks sent.
    expect(taken.size).toBeLessThan(CHUNKS / 2);
  });
});
