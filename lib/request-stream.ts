import { cancelled } from "./errors.js";

/** A grpc-js request stream as far as reading it needs. */
export interface RequestStream<T> extends AsyncIterable<T> {
  destroy(error?: Error): void;
  readonly cancelled: boolean;
}

/**
 * The request stream of a client-streaming call, for the handler. A stream
 * that ends because the client went away, or because the call's deadline
 * passed, must never look like a complete upload, so both surface as the
 * signal's error instead of a normal end.
 */
export async function* readRequests<T>(stream: RequestStream<T>, signal: AbortSignal): AsyncGenerator<T> {
  const onAbort = () => stream.destroy(signal.reason as Error);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const message of stream) yield message;
    signal.throwIfAborted();
    if (stream.cancelled) throw cancelled("call cancelled by the client");
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
