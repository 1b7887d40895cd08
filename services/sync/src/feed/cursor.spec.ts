import { describe, expect, it } from "vitest";
import { CfsError } from "#lib/errors.js";
import { decodeCursor, encodeCursor, OUTDATED_CURSOR } from "./cursor.js";

const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

describe("feed cursors", () => {
  it.each([0, 1, 42, 2 ** 40, Number.MAX_SAFE_INTEGER])("round-trips seq %i", (seq) => {
    const cursor = encodeCursor(seq);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toBe(seq);
  });

  it("is opaque base64url JSON carrying a format version", () => {
    expect(JSON.parse(Buffer.from(encodeCursor(7), "base64url").toString())).toEqual({ v: 2, s: 7 });
  });

  it("tells a cursor of the earlier, global format apart (the feed answers FAILED_PRECONDITION)", () => {
    expect(decodeCursor(b64({ v: 1, s: 7 }))).toBe(OUTDATED_CURSOR);
  });

  it.each([
    ["not base64url", "garbage!"],
    ["too long", "A".repeat(201)],
    ["not JSON", b64("{not json")],
    ["JSON but not an object", b64([1, 2])],
    ["null", b64("null")],
    ["a missing version", b64({ s: 1 })],
    ["another version", b64({ v: 3, s: 1 })],
    ["a negative seq", b64({ v: 2, s: -1 })],
    ["a fractional seq", b64({ v: 2, s: 1.5 })],
    ["a seq beyond 2^53", b64({ v: 2, s: 2 ** 60 })],
    ["a string seq", b64({ v: 2, s: "1" })],
    ["a page token of ListSyncEvents", b64({ s: 5, f: "" })],
  ])("refuses %s with INVALID_ARGUMENT", (_, cursor) => {
    let caught: unknown;
    try {
      decodeCursor(cursor);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CfsError);
    expect((caught as CfsError).kind).toBe("invalid-argument");
    expect((caught as CfsError).message).toMatch(/cursor is invalid/);
  });
});
