import { randomUUID } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";

/** What a request id may look like: short, printable, safe in a log line and a header. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The call's request id: the caller's `x-request-id` when it sent exactly one
 * well-formed value (so a chain of calls shares one id), a fresh UUID
 * otherwise. A malformed value is replaced, never echoed into logs.
 */
export function requestIdOf(metadata: Metadata): string {
  const values = metadata.get("x-request-id");
  const [value] = values;
  return values.length === 1 && typeof value === "string" && REQUEST_ID.test(value) ? value : randomUUID();
}
