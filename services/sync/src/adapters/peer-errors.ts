import { CfsError } from "#lib/errors.js";

/**
 * Names the call in a peer's error, keeping its kind (so "unavailable"
 * stays retryable and "data-loss" stays a finding): the message ends up in
 * an event's error_message, where "metadata InspectFileVersion: ..." says
 * more than the transport's words alone.
 */
export function withCallName(err: unknown, what: string): unknown {
  if (err instanceof CfsError) return new CfsError(err.kind, `${what}: ${err.message}`, { cause: err });
  return err;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof CfsError && err.kind === "not-found";
}
