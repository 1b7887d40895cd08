import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BufferPool } from "./buffer-pool.js";
import {
  framedMessage,
  GRPC_FRAME_HEADER_BYTES,
  HEADROOM_BYTES,
  lendReceivedHeadroom,
  messageInPlace,
  receiveMessagesInto,
  withHeadroom,
  zeroCopyFraming,
} from "./grpc-framing.js";
import { bytesMethod, loopbackGrpc } from "./loopback-grpc.spec-support.js";

const require = createRequire(import.meta.url);

/** The frame grpc-js puts on the wire for `message`. */
const frameOf = (message: Buffer) => Buffer.concat([Buffer.from([0]), Buffer.from(new Uint32Array([message.length]).buffer).reverse(), message]);

function filled(message: Buffer, text: string): Buffer {
  message.write(text);
  return message;
}

describe("zero-copy gRPC framing", () => {
  it("is installed with the grpc-js this repository pins (an upgrade that frames differently fails here)", () => {
    expect(zeroCopyFraming()).toBe(true);
  });

  it("hands a framed message on as its own frame on the client and the server, and frames any other by copying", async () => {
    zeroCopyFraming();
    const { CompressionFilter } = require("@grpc/grpc-js/build/src/compression-filter.js");
    const { BaseServerInterceptingCall } = require("@grpc/grpc-js/build/src/server-interceptors.js");
    const identity = new CompressionFilter({}, {}).sendCompression;
    const serialize = (message: Buffer) => BaseServerInterceptingCall.prototype.serializeMessage.call({ handler: { serialize: () => message } }, undefined);

    const marked = filled(framedMessage(5), "hello");
    const plain = Buffer.alloc(5, "hello"); // not from the pool small frames are also cut from
    for (const frame of [await identity.writeMessage(marked, false), serialize(marked)]) {
      expect(frame).toEqual(frameOf(plain));
      expect(frame.buffer).toBe(marked.buffer);
      expect(frame.byteOffset).toBe(marked.byteOffset - GRPC_FRAME_HEADER_BYTES);
    }
    for (const frame of [await identity.writeMessage(plain, false), serialize(plain)]) {
      expect(frame).toEqual(frameOf(plain));
      expect(frame.buffer).not.toBe(plain.buffer);
    }
  });
});

describe("headroom", () => {
  it("takes a message's headers in front of the payload, once", () => {
    const payload = filled(withHeadroom(4), "data");
    const message = messageInPlace(payload, 2)!;
    expect(message.buffer).toBe(payload.buffer);
    expect(message.byteOffset).toBe(payload.byteOffset - 2);
    expect(message.subarray(2)).toEqual(Buffer.from("data"));
    const frame = Buffer.from(message.buffer, message.byteOffset - GRPC_FRAME_HEADER_BYTES, GRPC_FRAME_HEADER_BYTES);
    expect([...frame]).toEqual([0, 0, 0, 0, 6]);
    // A second message around the same payload might still be queued behind the first: it gets a buffer of its own.
    expect(messageInPlace(payload, 2)).toBeUndefined();
  });

  it("is refused for a payload without it, a slice of one, and headers longer than the room", () => {
    expect(messageInPlace(Buffer.alloc(8), 2)).toBeUndefined();
    expect(messageInPlace(withHeadroom(8).subarray(1), 2)).toBeUndefined();
    expect(messageInPlace(withHeadroom(8), HEADROOM_BYTES - GRPC_FRAME_HEADER_BYTES + 1)).toBeUndefined();
    expect(messageInPlace(withHeadroom(8), HEADROOM_BYTES - GRPC_FRAME_HEADER_BYTES)).toBeDefined();
  });

  it("takes the headers of a payload's first part in front of it, never those of a later part", () => {
    const payload = withHeadroom(8);
    expect(messageInPlace(payload.subarray(4), 2)).toBeUndefined();
    const first = messageInPlace(payload.subarray(0, 4), 2)!;
    expect(first.byteOffset).toBe(payload.byteOffset - 2);
    expect(first.length).toBe(6);
  });

  it("is lent by a received message that lies alone in its memory behind its frame header, up to its frame's first byte", () => {
    const received = () => {
      const frame = Buffer.allocUnsafeSlow(GRPC_FRAME_HEADER_BYTES + 20).fill(0xaa);
      return frame.subarray(GRPC_FRAME_HEADER_BYTES);
    };
    const message = received();
    const payload = message.subarray(6);
    lendReceivedHeadroom(message, payload);
    const forwarded = messageInPlace(payload, 6)!;
    expect(forwarded.byteOffset).toBe(GRPC_FRAME_HEADER_BYTES);
    expect([...Buffer.from(forwarded.buffer, 0, GRPC_FRAME_HEADER_BYTES)]).toEqual([0, 0, 0, 0, 20]);
    // Headers longer than the frame header and fields it replaces do not fit.
    const other = received();
    lendReceivedHeadroom(other, other.subarray(6));
    expect(messageInPlace(other.subarray(6), 7)).toBeUndefined();
    // A message cut from a larger allocation (the shared pool, a read of several frames) lends nothing.
    const pooled = Buffer.allocUnsafe(40).subarray(GRPC_FRAME_HEADER_BYTES);
    lendReceivedHeadroom(pooled, pooled.subarray(6));
    expect(messageInPlace(pooled.subarray(6), 1)).toBeUndefined();
    const inside = Buffer.allocUnsafeSlow(64).subarray(GRPC_FRAME_HEADER_BYTES, 30);
    lendReceivedHeadroom(inside, inside.subarray(6));
    expect(messageInPlace(inside.subarray(6), 1)).toBeUndefined();
  });

  it("never reaches past its own allocation, however small the payload (Buffer.allocUnsafe cuts small buffers from one shared pool)", () => {
    // Pooled neighbours right before and after each small payload's allocation: headers written before the allocation would land in them.
    const neighbours: Buffer[] = [];
    for (let size = 0; size < 16; size++) {
      neighbours.push(Buffer.allocUnsafe(8).fill(0xaa));
      const payload = withHeadroom(size);
      expect(messageInPlace(payload, HEADROOM_BYTES - GRPC_FRAME_HEADER_BYTES)).toBeDefined();
      neighbours.push(Buffer.allocUnsafe(8).fill(0xaa));
    }
    for (const b of neighbours) expect([...b]).toEqual(Array(8).fill(0xaa));
  });
});

/** A streaming echo over loopback whose messages are raw buffers: what is sent framed, in place or plain arrives as sent. */
describe("framed messages through real grpc-js calls", () => {
  const copyOf = (b: Buffer) => Buffer.from(b);
  /** Whether each message the server received lent its headroom (the layout the chunker's forwarding relies on). */
  const lent: boolean[] = [];
  const lending = (b: Buffer) => {
    const payload = b.subarray(3);
    lendReceivedHeadroom(b, payload);
    lent.push(messageInPlace(payload, 3) !== undefined);
    return copyOf(b);
  };
  const definition = {
    echo: bytesMethod("/cfs.test.Framing/Echo", { requestStream: true, responseStream: true }, { request: lending, response: copyOf }),
  } satisfies grpc.ServiceDefinition;
  let client: grpc.Client & { echo(): grpc.ClientDuplexStream<Buffer, Buffer> };
  let close: () => void;

  /** One message of each kind, different bytes each, the in-place one larger than an HTTP/2 frame. */
  const messages = () => {
    const big = withHeadroom(100_000).fill(7);
    return [filled(framedMessage(6), "framed"), messageInPlace(big, 3)!.fill(1, 0, 3), Buffer.from("plain")];
  };

  beforeAll(async () => {
    ({ client, close } = await loopbackGrpc<typeof client>(definition, {
      echo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        let i = 0;
        // Each message goes back in another of the three kinds: the server side's framing of each.
        call.on("data", (received: Buffer) => {
          const kind = i++ % 3;
          if (kind === 0) call.write(Buffer.from(received));
          else if (kind === 1) call.write(filled(framedMessage(received.length), received.toString("latin1")));
          else {
            const payload = withHeadroom(received.length);
            received.copy(payload);
            call.write(messageInPlace(payload, 0)!);
          }
        });
        call.on("end", () => call.end());
      },
    }));
  });

  afterAll(() => close());

  it("arrive byte for byte in both directions", async () => {
    const sent = messages();
    const expected = sent.map((m) => Buffer.from(m));
    const call = client.echo();
    const received: Buffer[] = [];
    call.on("data", (b: Buffer) => received.push(b));
    const ended = new Promise((resolve, reject) => {
      call.on("end", resolve);
      call.on("error", reject);
    });
    for (const m of sent) call.write(m);
    call.end();
    await ended;
    expect(received).toEqual(expected);
    // The in-place message (larger than the shared pool's small buffers) came alone in its memory with the pinned grpc-js.
    expect(lent).toEqual([false, true, false]);
  });
});

/** Received messages joined into a pool's memory: what a service gives back is filled by a later message. */
describe("receiveMessagesInto through real grpc-js calls", () => {
  const pool = new BufferPool(8 * 1024 * 1024);
  const received: Buffer[] = [];
  const definition = {
    collect: bytesMethod(
      "/cfs.test.Receive/Collect",
      { requestStream: true, responseStream: false },
      {
        request: (b) => {
          received.push(b);
          return b;
        },
      },
    ),
  } satisfies grpc.ServiceDefinition;
  let client: grpc.Client & { collect(callback: (err: grpc.ServiceError | null) => void): grpc.ClientWritableStream<Buffer> };
  let close: () => void;

  beforeAll(async () => {
    ({ client, close } = await loopbackGrpc<typeof client>(definition, {
      collect: (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        call.on("data", () => undefined);
        call.on("end", () => callback(null, Buffer.alloc(0)));
      },
    }));
  });

  afterAll(() => close());

  const send = (messages: Buffer[]) =>
    new Promise<void>((resolve, reject) => {
      const call = client.collect((err) => (err ? reject(err) : resolve()));
      messages.forEach((m) => call.write(m));
      call.end();
    });

  it("is installed over the grpc-js this repository pins (an upgrade with another decoder fails here)", () => {
    expect(receiveMessagesInto(pool)).toBe(true);
  });

  it("joins messages of at least the pool's minimum into its memory, byte for byte, and fills memory given back again", async () => {
    receiveMessagesInto(pool);
    const big = (size: number, seed: number) => Buffer.alloc(size, seed);
    // Larger than an HTTP/2 frame and the 64 KiB window: each arrives in many pieces.
    const first = [big(70_000, 1), Buffer.from("small"), big(1024 * 1024 + 3, 2)];
    await send(first);
    expect(received.map((b, i) => b.equals(first[i]!))).toEqual([true, true, true]);
    expect(received.map((b) => pool.lent(b.buffer))).toEqual([true, false, true]);
    expect(received.map((b) => b.byteOffset)).toEqual([GRPC_FRAME_HEADER_BYTES, expect.any(Number), GRPC_FRAME_HEADER_BYTES]);
    // A pooled message lends its headroom like one in memory of its own exactly its size.
    const payload = received[2]!.subarray(10);
    lendReceivedHeadroom(received[2]!, payload);
    expect(messageInPlace(payload, 3)).toBeDefined();

    const memory = received[0]!.buffer;
    pool.give(memory);
    received.length = 0;
    const second = big(69_000, 3);
    await send([second]);
    expect(received[0]!.buffer).toBe(memory);
    expect(received[0]!.equals(second)).toBe(true);
  });
});
