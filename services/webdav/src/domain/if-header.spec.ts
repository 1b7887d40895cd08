import { describe, expect, it } from "vitest";
import { evaluateIf, parseIfHeader, submittedTokens } from "./if-header.js";

describe("If header", () => {
  it("parses untagged and tagged lists, Not, state tokens and entity tags", () => {
    expect(parseIfHeader('(<urn:uuid:a> ["x-1"]) (Not <DAV:no-lock>)')).toEqual([
      { resource: undefined, conditions: [{ not: false, kind: "token", token: "urn:uuid:a" }, { not: false, kind: "etag", etag: '"x-1"' }] },
      { resource: undefined, conditions: [{ not: true, kind: "token", token: "DAV:no-lock" }] },
    ]);
    expect(parseIfHeader("<http://h/dav/a> (<urn:uuid:b>) <http://h/dav/c> (<urn:uuid:d>)").map((l) => l.resource)).toEqual(["http://h/dav/a", "http://h/dav/c"]);
    expect([...submittedTokens(parseIfHeader("(<urn:uuid:a>) (Not <urn:uuid:b>)"))]).toEqual(["urn:uuid:a", "urn:uuid:b"]);
  });

  it("refuses malformed headers", () => {
    for (const bad of ["", "<urn:uuid:a>", "(<urn:uuid:a>", "()", "(maybe)", '(["unterminated)']) expect(() => parseIfHeader(bad)).toThrow(/malformed If header/);
  });

  it("holds when some list's conditions all hold, for its own resource", async () => {
    const state = async (resource: string | undefined) =>
      resource === undefined ? { lockTokens: new Set(["urn:uuid:a"]), etag: '"e-1"' } : { lockTokens: new Set<string>(), etag: undefined };
    expect(await evaluateIf(parseIfHeader('(<urn:uuid:a> ["e-1"])'), state)).toBe(true);
    expect(await evaluateIf(parseIfHeader('(<urn:uuid:a> ["e-2"])'), state)).toBe(false);
    expect(await evaluateIf(parseIfHeader("(<urn:uuid:x>) (Not <DAV:no-lock>)"), state)).toBe(true);
    expect(await evaluateIf(parseIfHeader("(<DAV:no-lock>)"), state)).toBe(false);
    expect(await evaluateIf(parseIfHeader("<http://h/other> (<urn:uuid:a>)"), state)).toBe(false);
    expect(await evaluateIf(parseIfHeader('(Not ["e-1"])'), state)).toBe(false);
  });
});
