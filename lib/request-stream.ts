import { cancelled } from "./errors.js";
import { StreamGuard, type StreamLimits } from "./stream-guard.js";

/** A grpc-js request stream as far as reading it needs. */
export interface RequestStream<T> {
  /** Node's Readable.iterator. */
  iterator(options: { destroyOnReturn: boolean }): AsyncIterator<T>;
  destroy(error?: Error): void;
  readonly cancelled: boolean;
}

/** How slow the client may be, and how to tell a message's size on the wire. */
export interface RequestStreamGuard<T> {
  limits: StreamLimits;
  sizeOf: (message: T) => number;
}

/**
 * The request stream of a client-streaming call, for the handler. A stream
 * that ends because the client went away, or because the call's deadline
 * passed, must never look like a complete upload, so both surface as the
 * signal's error instead of a normal end. With a guard, a client that keeps
 * the server waiting too long for a message, or sends too slowly, fails the
 * stream with DEADLINE_EXCEEDED (a SlowClientError) the same way.
 */
export async function* readRequests<T>(stream: RequestStream<T>, signal: AbortSignal, guard?: RequestStreamGuard<T>): AsyncGenerator<T> {
  const onAbort = () => stream.destroy(signal.reason as Error);
  signal.addEventListener("abort", onAbort, { once: true });
  // Not the default iterator: when the messages end it destroys a stream
  // that is not finished, and grpc-js's request stream is the readable side
  // of a duplex whose response is still to come, so every call paid for an
  // AbortError with its stack trace (~0.2 CPU-ms a call in the chunker and
  // block storage, profiled). A failure, or a handler that stops reading
  // early, still destroys it, below.
  const iterator = stream.iterator({ destroyOnReturn: false });
  const watch = guard && new StreamGuard(guard.limits);
  let ended = false;
  try {
    for (;;) {
      const next = watch ? await nextInTime(iterator, watch) : await iterator.next();
      ended = next.done === true;
      if (ended) break;
      watch?.received(guard!.sizeOf(next.value));
      yield next.value;
    }
    signal.throwIfAborted();
    if (stream.cancelled) throw cancelled("call cancelled by the client");
  } catch (err) {
    // Stop reading what the client still sends.
    stream.destroy(err as Error);
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
    if (!ended) stream.destroy();
  }
}

/** The next message, or the guard's error when the client keeps us waiting too long for it. */
function nextInTime<T>(iterator: AsyncIterator<T>, guard: StreamGuard): Promise<IteratorResult<T>> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number) => {
      timer = setTimeout(() => {
        try {
          arm(guard.check());
        } catch (err) {
          reject(err as Error);
        }
      }, ms);
    };
    arm(guard.wait());
    iterator.next().then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

/**
 * Serialized sizes of request messages, noted as grpc-js decodes them (the
 * guard measures a stream's rate in bytes on the wire). Messages are the
 * decoded objects, so the map lets go of them with the messages.
 */
export class RequestSizes {
  private readonly sizes = new WeakMap<object, number>();

  /** The codec, noting the size of each request it decodes. */
  measure<C extends { requestDeserialize: (bytes: Buffer) => unknown }>(codec: C): C {
    return {
      ...codec,
      requestDeserialize: (bytes: Buffer) => {
        const message = codec.requestDeserialize(bytes);
        if (typeof message === "object" && message !== null) this.sizes.set(message, bytes.length);
        return message;
      },
    };
  }

  readonly sizeOf = (message: unknown): number => (typeof message === "object" && message !== null ? (this.sizes.get(message) ?? 0) : 0);
}
