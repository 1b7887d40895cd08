import { untilAborted } from "./call-lifetime.js";

/**
 * Messages of a server stream handed to grpc-js and not yet written to its
 * HTTP/2 stream. grpc-js's call is a Writable that queues up to 16 (an
 * object-mode Writable's default) before it asks its writer to wait: for
 * chunks of 1–4 MiB that is 16–64 MiB a download, held in block storage
 * and the chunker alike whenever the reader is slower than the store. Two
 * keep one message ready behind the one being written; HTTP/2's window
 * (CFS_FLOW_CONTROL_WINDOW_BYTES) is what keeps the link busy.
 */
export const MAX_UNSENT_MESSAGES = 2;

/** What to do once a message has been written out, by message (afterWritten). */
const onWritten = new WeakMap<object, () => void>();

/**
 * Marks a message of a server stream: `then` runs once HTTP/2 has written it
 * to the connection — grpc-js calls back only when Node's stream has,
 * which is when the socket write of its bytes completed — and not at all if
 * it is never written (the call failed or was cancelled). Where a message's
 * bytes may be used again (a chunk buffer handed back to its pool), this is
 * the moment nothing reads them any more.
 */
export function afterWritten<M extends object>(message: M, then: () => void): M {
  onWritten.set(message, then);
  return message;
}

/** The part of a server call that writeResponses uses. */
export interface ResponseSink {
  /** Hands a message on; `written` is called once it is written out (or failed). */
  write(message: unknown, written: (err?: Error | null) => void): unknown;
}

/**
 * Writes a server stream's messages as the client takes them: the next
 * message is asked of the handler only while fewer than MAX_UNSENT_MESSAGES
 * wait to be written, so a slow client slows the handler (and whatever it
 * reads from) instead of filling memory. When the signal aborts (client
 * gone, deadline passed) it stops at once, even while waiting for the
 * handler's next message or for a write, and fails with the reason; the
 * handler's generator then runs its clean-up.
 */
export async function writeResponses(call: ResponseSink, messages: AsyncIterable<unknown>, signal: AbortSignal): Promise<void> {
  const iterator = messages[Symbol.asyncIterator]();
  let unsent = 0;
  let wake: (() => void) | undefined;
  const written = (message: unknown) => (err?: Error | null) => {
    unsent -= 1;
    if (!err && typeof message === "object" && message !== null) onWritten.get(message)?.();
    wake?.();
  };
  try {
    for (;;) {
      while (unsent >= MAX_UNSENT_MESSAGES) {
        await untilAborted(
          new Promise<void>((resolve) => {
            wake = resolve;
          }),
          signal,
        );
        wake = undefined;
      }
      const next = await untilAborted(iterator.next(), signal);
      if (next.done) return;
      unsent += 1;
      call.write(next.value, written(next.value));
    }
  } catch (err) {
    // Let the handler's generator run its clean-up (finally blocks) once it gets there.
    void iterator.return?.()?.catch(() => undefined);
    throw err;
  }
}
