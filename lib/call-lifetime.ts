import type { Deadline } from "@grpc/grpc-js";
import { cancelled, CfsError } from "./errors.js";

/** The longest a call may run when its client set no deadline (or a later one). */
export interface CallCaps {
  readonly unaryMs: number;
  /** Client and server streams: uploads and downloads of big files, change feeds. */
  readonly streamMs: number;
}

/** What the lifetime step needs of a grpc-js server call. */
export interface CancellableCall {
  getDeadline(): Deadline;
  on(event: "cancelled", listener: () => void): unknown;
}

/**
 * How long a call may live and when it ends early: `deadline` is the
 * client's deadline or the server's cap, whichever is sooner, so every call
 * has one and downstream calls inherit what is left of it. `signal` aborts
 * when the client cancels or disconnects, or when the deadline passes; its
 * reason is the CfsError the call ends with.
 */
export interface CallLifetime {
  readonly deadline: Date;
  readonly signal: AbortSignal;
  /**
   * True once nobody waits for an answer: the client cancelled or went
   * away, or its own deadline passed (grpc-js answers DEADLINE_EXCEEDED by
   * itself then). False when the server's cap ended the call: the handler
   * owes the client that status.
   */
  readonly clientGone: boolean;
  /** The call is answered: stops the deadline timer and stops listening. */
  end(): void;
}

export function startCallLifetime(call: CancellableCall, capMs: number, now: () => number = Date.now): CallLifetime {
  const started = now();
  const requested = call.getDeadline();
  const clientDeadline = requested instanceof Date ? requested.getTime() : requested;
  const capDeadline = started + capMs;
  const byClient = clientDeadline <= capDeadline;
  const deadline = byClient ? clientDeadline : capDeadline;
  const abort = new AbortController();
  let clientGone = false;
  let ended = false;

  const expire = () => {
    if (abort.signal.aborted) return;
    clientGone = byClient;
    abort.abort(
      byClient
        ? new CfsError("deadline-exceeded", "the client's deadline passed")
        : new CfsError("deadline-exceeded", `the call ran longer than the server allows (${Math.round(capMs / 1000)} s)`),
    );
  };
  const timer = setTimeout(expire, Math.max(0, deadline - started));
  timer.unref();

  // grpc-js also reports "cancelled" right after every answer it sent: only
  // one before end() means the client left.
  call.on("cancelled", () => {
    if (ended) return;
    clientGone = true;
    if (abort.signal.aborted) return;
    // grpc-js reports its own DEADLINE_EXCEEDED answer as a cancellation too.
    if (now() >= clientDeadline) expire();
    else abort.abort(cancelled("call cancelled by the client"));
    clearTimeout(timer);
  });

  return {
    deadline: new Date(deadline),
    signal: abort.signal,
    get clientGone() {
      return clientGone;
    },
    end: () => {
      ended = true;
      clearTimeout(timer);
    },
  };
}

/**
 * Settles with `work`, or rejects with the signal's reason as soon as it
 * aborts: a call whose deadline passed is answered at once, whatever the
 * handler is still waiting for (it sees the same signal and stops).
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
