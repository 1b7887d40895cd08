import { status } from "@grpc/grpc-js";
import { CfsError, isServiceError } from "#lib/errors.js";

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

/** The peer does not know the method: a service older than this one, during a rolling upgrade. */
export function isUnimplemented(err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined;
  return isServiceError(cause) && cause.code === status.UNIMPLEMENTED;
}
