import type { IncomingMessage } from "node:http";
import { SlowClientError, StreamGuard, type StreamLimits } from "#lib/stream-guard.js";

/**
 * Watches a request body against the stream limits while the edge reads it,
 * and calls `onSlow` once when the client is too slow or silent. The clock
 * runs only while the body flows: a request the edge paused because the
 * service is behind (backpressure) is not kept waiting by its client.
 * Attaching it starts the body flowing. Returns the function that stops it.
 */
export function guardBody(req: IncomingMessage, limits: StreamLimits, onSlow: (err: SlowClientError) => void): () => void {
  const guard = new StreamGuard(limits);
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => judge(() => arm(guard.check())), ms);
  };
  const judge = (step: () => void) => {
    try {
      step();
    } catch (err) {
      stop();
      onSlow(err as SlowClientError);
    }
  };
  const onData = (part: Buffer) =>
    judge(() => {
      guard.received(part.length);
      if (!req.isPaused()) arm(guard.wait());
    });
  const onPause = () =>
    judge(() => {
      clearTimeout(timer);
      guard.received(0);
    });
  const onResume = () => arm(guard.wait());
  const stop = () => {
    clearTimeout(timer);
    req.off("data", onData);
    req.off("pause", onPause);
    req.off("resume", onResume);
  };
  req.on("data", onData);
  req.on("pause", onPause);
  req.on("resume", onResume);
  req.once("end", stop);
  req.once("close", stop);
  arm(guard.wait());
  return stop;
}
