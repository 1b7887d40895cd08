import { describe, expect, it } from "vitest";
import { invalidArgumentMessage } from "../../../../tests/support/refusals.js";
import { decodePageToken, DEFAULT_PAGE_SIZE, encodePageToken, MAX_PAGE_SIZE, pageSize } from "./page-token.js";

const rejection = invalidArgumentMessage;

describe("page tokens", () => {
  it.each([
    ["docs/a.txt", "docs/"],
    ["a", ""],
    ["ünï/😀 \"quoted\"", "ünï/"],
  ])("round-trip the last name %j for prefix %j", (name, prefix) => {
    const token = encodePageToken(name, prefix);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodePageToken(token, prefix)).toBe(name);
  });

  it("refuses a token reused with another prefix", () => {
    const token = encodePageToken("docs/a", "docs/");
    expect(rejection(() => decodePageToken(token, "photos/"))).toMatch(/different prefix/);
    expect(rejection(() => decodePageToken(token, ""))).toMatch(/different prefix/);
  });

  it.each([
    ["garbage", "!!!"],
    ["base64 of non-JSON", Buffer.from("hello").toString("base64url")],
    ["a JSON string", Buffer.from('"x"').toString("base64url")],
    ["JSON null", Buffer.from("null").toString("base64url")],
    ["missing fields", Buffer.from("{}").toString("base64url")],
    ["a numeric name", Buffer.from('{"n":1,"p":""}').toString("base64url")],
    ["an empty name", Buffer.from('{"n":"","p":""}').toString("base64url")],
    ["a name outside its prefix", Buffer.from('{"n":"b","p":"a"}').toString("base64url")],
    ["a NUL in the name", Buffer.from('{"n":"a\\u0000","p":""}').toString("base64url")],
    ["an enormous token", "A".repeat(10_000)],
  ])("refuses %s", (_, token) => {
    expect(rejection(() => decodePageToken(token, ""))).toMatch(/page_token/);
  });
});

describe("pageSize", () => {
  it("defaults 0, caps large values and refuses negative ones", () => {
    expect(pageSize(0)).toBe(DEFAULT_PAGE_SIZE);
    expect(pageSize(1)).toBe(1);
    expect(pageSize(1000)).toBe(1000);
    expect(pageSize(5000)).toBe(MAX_PAGE_SIZE);
    expect(rejection(() => pageSize(-1))).toMatch(/page_size must not be negative/);
  });
});
