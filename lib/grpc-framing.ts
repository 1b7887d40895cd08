import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { BufferPool, IDLE_CHUNK_BUFFER_BYTES } from "./buffer-pool.js";

/**
 * gRPC frames every message as a 5-byte header (a compression flag and a
 * 32-bit length) followed by the message, and grpc-js builds that frame by
 * allocating a new buffer and copying the serialized message into it — on
 * the server (BaseServerInterceptingCall.serializeMessage) and on the client
 * (the identity compression handler's writeMessage). For a 1 MiB chunk that
 * is a second copy of every byte into freshly mapped memory, which the
 * profile shows costing about as much as hashing it (chunker and block
 * storage, ~0.5–1 CPU-s per GiB each).
 *
 * The bulk codecs (bulk-codecs.ts) therefore encode their messages into a
 * buffer that already has the 5 header bytes in front, filled in
 * (`framedMessage`), and the two framing functions, patched here, hand that
 * frame on as a view instead of copying. Anything not marked goes the
 * original way, byte for byte.
 *
 * grpc-js exposes neither function as API, so the patch checks what it
 * replaces and proves the server side on sample messages; if that fails (a
 * grpc-js release that frames differently), it leaves grpc-js untouched and
 * everything still works, one copy slower. `zeroCopyFraming()` says which
 * (grpc-framing.spec.ts fails when it is off with the installed grpc-js, so
 * an upgrade that breaks it is noticed, not silently slower).
 */

export const GRPC_FRAME_HEADER_BYTES = 5;

/** Messages whose 5 bytes in front of them are their filled-in gRPC frame header, in memory we own. */
const framed = new WeakSet<Uint8Array>();

/**
 * A buffer for a message of `size` bytes with its gRPC frame header in front
 * (the message's bytes are to be written by the caller; the header already
 * says `size`). Its frame, not a copy, is what grpc-js sends.
 */
export function framedMessage(size: number): Buffer {
  const frame = Buffer.allocUnsafe(GRPC_FRAME_HEADER_BYTES + size);
  writeFrameHeader(frame, size);
  const message = frame.subarray(GRPC_FRAME_HEADER_BYTES);
  framed.add(message);
  return message;
}

/**
 * Room for a frame header and the field headers of the message that will
 * carry a payload as its last field (ReadChunksResponse: index, then the
 * data's tag and length): 5 + 6 + 1 + 5 bytes at most.
 */
export const HEADROOM_BYTES = 32;

/**
 * Allocations that hold one payload with free bytes of our own in front of
 * it, not yet used: where the payload starts. Each is an ArrayBuffer of its
 * own, so nothing else lives in those bytes.
 */
const headroom = new WeakMap<ArrayBufferLike, { payloadAt: number }>();

/**
 * A buffer of `size` bytes for a payload (a chunk read or cut) that will be
 * sent as the last field of a bulk message: the codec writes the message's
 * headers and the frame's in front of it instead of copying the payload
 * into a new message (once; a second send of it copies). With `from`, the
 * memory comes from that pool (and goes back to it with the payload's
 * `buffer` once sent).
 */
export function withHeadroom(size: number, from?: BufferPool): Buffer {
  // Never cut from the shared pool Buffer.allocUnsafe uses for small sizes: the room in front must be ours alone.
  const memory = from ? from.take(HEADROOM_BYTES + size) : Buffer.allocUnsafeSlow(HEADROOM_BYTES + size).buffer;
  headroom.set(memory, { payloadAt: HEADROOM_BYTES });
  return Buffer.from(memory, HEADROOM_BYTES, size);
}

/**
 * Lends the bytes in front of `payload` to the message that sends it on,
 * when `message` is a received message as grpc-js hands it to a
 * deserializer and lies alone in its memory behind its 5-byte frame header
 * (grpc-js joins the HTTP/2 frames of each message into one buffer of its
 * own): once it is decoded, its frame header and the fields before the
 * payload are free. The chunker forwards every chunk it reads from block
 * storage this way, its bytes never copied again. Anything else (a pooled
 * small message, another grpc-js's layout) is left alone, and copied when
 * sent.
 */
export function lendReceivedHeadroom(message: Buffer, payload: Buffer): void {
  const ownsItsMemory =
    message.byteOffset === GRPC_FRAME_HEADER_BYTES &&
    (message.buffer.byteLength === message.length + GRPC_FRAME_HEADER_BYTES || receivePool?.lent(message.buffer) === true);
  if (ownsItsMemory && payload.buffer === message.buffer && payload.byteOffset > message.byteOffset) {
    headroom.set(message.buffer, { payloadAt: payload.byteOffset });
  }
}

/**
 * The message made of `prefixBytes` of headers followed by `payload`, in
 * place, framed, when `payload` starts where a payload with headroom starts
 * (withHeadroom, lendReceivedHeadroom: the whole payload or its first part),
 * that room was not used before and holds the headers and the frame's; the
 * caller writes the headers into the first `prefixBytes`. Undefined
 * otherwise (the caller encodes into a new buffer): a later part of a
 * payload has the part before it in front, which may still be on its way.
 */
export function messageInPlace(payload: Uint8Array, prefixBytes: number): Buffer | undefined {
  const room = headroom.get(payload.buffer);
  if (!room || payload.byteOffset !== room.payloadAt || prefixBytes + GRPC_FRAME_HEADER_BYTES > room.payloadAt) return undefined;
  headroom.delete(payload.buffer);
  const start = payload.byteOffset - prefixBytes;
  writeFrameHeader(Buffer.from(payload.buffer, start - GRPC_FRAME_HEADER_BYTES, GRPC_FRAME_HEADER_BYTES), prefixBytes + payload.length);
  const message = Buffer.from(payload.buffer, start, prefixBytes + payload.length);
  framed.add(message);
  return message;
}

function writeFrameHeader(target: Buffer, size: number): void {
  target[0] = 0; // not compressed: cfs calls use identity encoding
  target.writeUInt32BE(size, 1);
}

/** The whole frame of a marked message, or undefined for any other. */
function frameOf(message: Buffer): Buffer | undefined {
  if (!framed.has(message)) return undefined;
  return Buffer.from(message.buffer, message.byteOffset - GRPC_FRAME_HEADER_BYTES, message.length + GRPC_FRAME_HEADER_BYTES);
}

let active: boolean | undefined;

/** Whether grpc-js sends framed messages without copying them (installs the patch on first call). */
export function zeroCopyFraming(): boolean {
  active ??= install();
  return active;
}

type FrameFn = (this: unknown, message: Buffer, compress: boolean) => Promise<Buffer>;
type SerializeFn = (this: { handler: { serialize(value: unknown): Buffer } }, value: unknown) => Buffer;

function install(): boolean {
  const require = createRequire(import.meta.url);
  let clientHandler: { writeMessage?: FrameFn } | undefined;
  let serverCall: { serializeMessage?: SerializeFn } | undefined;
  try {
    const { CompressionFilter } = require("@grpc/grpc-js/build/src/compression-filter.js") as {
      CompressionFilter: new (options: object, shared: object) => { sendCompression: object };
    };
    const { BaseServerInterceptingCall } = require("@grpc/grpc-js/build/src/server-interceptors.js") as {
      BaseServerInterceptingCall: { prototype: { serializeMessage?: SerializeFn } };
    };
    // The identity handler's class is not exported; a filter holds one.
    clientHandler = Object.getPrototypeOf(new CompressionFilter({}, {}).sendCompression) as { writeMessage?: FrameFn };
    serverCall = BaseServerInterceptingCall.prototype;
  } catch {
    return false;
  }
  const originalWrite = clientHandler.writeMessage;
  const originalSerialize = serverCall.serializeMessage;
  if (typeof originalWrite !== "function" || typeof originalSerialize !== "function") return false;

  const patchedSerialize: SerializeFn = function (value) {
    const message = this.handler.serialize(value);
    return frameOf(message) ?? originalSerialize.call({ handler: { serialize: () => message } }, value);
  };
  clientHandler.writeMessage = function (message, compress) {
    const frame = frameOf(message);
    return frame ? Promise.resolve(frame) : originalWrite.call(this, message, compress);
  };
  serverCall.serializeMessage = patchedSerialize;
  try {
    if (proves(patchedSerialize)) return true;
  } catch {
    // A serializeMessage that needs more of its call than the handler: not the one this was written for.
  }
  clientHandler.writeMessage = originalWrite;
  serverCall.serializeMessage = originalSerialize;
  return false;
}

/**
 * The patched server function gives the frames the original does, for
 * marked and plain messages, and a marked one without a copy. (The client
 * one answers through a promise; grpc-framing.spec.ts checks both through
 * real calls.)
 */
function proves(serialize: SerializeFn): boolean {
  const sample = Buffer.from("cfs framing check");
  const expected = Buffer.concat([Buffer.from([0, 0, 0, 0, sample.length]), sample]);
  const marked = framedMessage(sample.length);
  sample.copy(marked);
  const serialized = (message: Buffer) => serialize.call({ handler: { serialize: () => message } }, undefined);
  const markedFrame = serialized(marked);
  return markedFrame.equals(expected) && markedFrame.buffer === marked.buffer && serialized(Buffer.from(sample)).equals(expected);
}

/** The pool received messages are joined into, once receiveMessagesInto installed it. */
let receivePool: BufferPool | undefined;

/**
 * grpc-js's StreamDecoder joins the HTTP/2 pieces of each received message
 * into a buffer of its own (Buffer.concat: a fresh allocation and one copy).
 * With this installed, a message of at least the pool's minimum size is
 * joined into memory taken from `pool` instead — the same one copy — so a
 * service can give a received chunk's memory back once its last use is
 * known (forwarded and written out, or stored) rather than leave it to a
 * full garbage collection (buffer-pool.ts says why that matters). A message
 * whose memory is never given back is collected as before.
 *
 * The replacement is grpc-js 1.14.7's StreamDecoder.write with that one
 * allocation changed; it is installed only over that exact function
 * (compared by its source's SHA-256), so another grpc-js keeps its own
 * decoder and everything still works, every message in fresh memory
 * (grpc-framing.spec.ts fails then, so an upgrade that breaks it is noticed).
 * Returns whether it is installed.
 */
export function receiveMessagesInto(pool: BufferPool): boolean {
  const require = createRequire(import.meta.url);
  let decoder: { prototype: { write: (data: Buffer) => Buffer[] } };
  try {
    decoder = (require("@grpc/grpc-js/build/src/stream-decoder.js") as { StreamDecoder: typeof decoder }).StreamDecoder;
  } catch {
    return false;
  }
  const original = decoder.prototype.write;
  if (original !== pooledWrite) {
    const fingerprint = createHash("sha256").update(String(original)).digest("hex");
    if (fingerprint !== STREAM_DECODER_WRITE_SHA256) return false;
    decoder.prototype.write = pooledWrite;
  }
  receivePool = pool;
  return true;
}

/**
 * A service's pool of chunk memory, with received messages joined into it
 * (receiveMessagesInto). When grpc-js's decoder is not the one that replaces,
 * it says so in `log` and received messages stay fresh allocations.
 */
export function chunkBufferPool(log: { warn(message: string): void }): BufferPool {
  const pool = new BufferPool(IDLE_CHUNK_BUFFER_BYTES);
  if (!receiveMessagesInto(pool)) log.warn("grpc-js's stream decoder changed: received chunks are left to the garbage collector");
  return pool;
}

/** SHA-256 of grpc-js 1.14.7's StreamDecoder.prototype.write, the function pooledWrite replaces. */
const STREAM_DECODER_WRITE_SHA256 = "045caa1607218e440232e8a7853874755cf36d6b2554e9c926c6e67765c7d339";

/** The parts of a received message joined into memory of the receive pool when it is large enough. */
function joinReceived(parts: readonly Buffer[], length: number): Buffer {
  if (!receivePool || length < receivePool.minBytes) return Buffer.concat(parts, length);
  const memory = receivePool.take(length);
  // Memory used before may still have headroom recorded from its last use.
  headroom.delete(memory);
  const joined = Buffer.from(memory, 0, length);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}

/** StreamDecoder's state, as grpc-js's decoder keeps it. */
interface DecoderState {
  maxReadMessageLength: number;
  readState: number;
  readCompressFlag: Buffer;
  readPartialSize: Buffer;
  readSizeRemaining: number;
  readMessageSize: number;
  readPartialMessage: Buffer[];
  readMessageRemaining: number;
}

const NO_DATA = 0;
const READING_SIZE = 1;
const READING_MESSAGE = 2;

/**
 * grpc-js 1.14.7's StreamDecoder.write (Apache-2.0, Copyright 2019 gRPC
 * authors), line for line, except that a complete message is joined by
 * joinReceived instead of Buffer.concat.
 */
function pooledWrite(this: DecoderState, data: Buffer): Buffer[] {
  let readHead = 0;
  let toRead: number;
  const result: Buffer[] = [];
  while (readHead < data.length) {
    switch (this.readState) {
      case NO_DATA:
        this.readCompressFlag = data.slice(readHead, readHead + 1);
        readHead += 1;
        this.readState = READING_SIZE;
        this.readPartialSize.fill(0);
        this.readSizeRemaining = 4;
        this.readMessageSize = 0;
        this.readMessageRemaining = 0;
        this.readPartialMessage = [];
        break;
      case READING_SIZE:
        toRead = Math.min(data.length - readHead, this.readSizeRemaining);
        data.copy(this.readPartialSize, 4 - this.readSizeRemaining, readHead, readHead + toRead);
        this.readSizeRemaining -= toRead;
        readHead += toRead;
        if (this.readSizeRemaining === 0) {
          this.readMessageSize = this.readPartialSize.readUInt32BE(0);
          if (this.maxReadMessageLength !== -1 && this.readMessageSize > this.maxReadMessageLength) {
            throw new Error(`Received message larger than max (${this.readMessageSize} vs ${this.maxReadMessageLength})`);
          }
          this.readMessageRemaining = this.readMessageSize;
          if (this.readMessageRemaining > 0) {
            this.readState = READING_MESSAGE;
          } else {
            const message = Buffer.concat([this.readCompressFlag, this.readPartialSize], 5);
            this.readState = NO_DATA;
            result.push(message);
          }
        }
        break;
      case READING_MESSAGE:
        toRead = Math.min(data.length - readHead, this.readMessageRemaining);
        this.readPartialMessage.push(data.slice(readHead, readHead + toRead));
        this.readMessageRemaining -= toRead;
        readHead += toRead;
        if (this.readMessageRemaining === 0) {
          const framedMessageBuffers = [this.readCompressFlag, this.readPartialSize].concat(this.readPartialMessage);
          const framedMessage = joinReceived(framedMessageBuffers, this.readMessageSize + 5);
          this.readState = NO_DATA;
          result.push(framedMessage);
        }
        break;
      default:
        throw new Error("Unexpected read state");
    }
  }
  return result;
}
