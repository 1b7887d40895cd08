import { expect } from "vitest";
import { CfsError } from "#lib/errors.js";

/** The message of the INVALID_ARGUMENT `fn` throws; fails the test when it throws anything else or nothing. */
export function invalidArgumentMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CfsError);
    expect((err as CfsError).kind).toBe("invalid-argument");
    return (err as CfsError).message;
  }
  throw new Error("expected INVALID_ARGUMENT");
}
