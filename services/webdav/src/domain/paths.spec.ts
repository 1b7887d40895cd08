import { describe, expect, it } from "vitest";
import { DavPaths, isUnder, parentOf } from "./paths.js";

describe("DavPaths", () => {
  const paths = new DavPaths("/dav/");

  it("decodes URLs to cfs paths (NFC, no empty segments) and encodes them back", () => {
    expect(paths.toPath("/dav/")).toBe("");
    expect(paths.toPath("/dav")).toBe("");
    expect(paths.toPath("/dav/a%20b/c%C3%A9.txt")).toBe("a b/cé.txt");
    expect(paths.toPath("/dav/cafe%CC%81")).toBe("café".normalize("NFC"));
    expect(paths.toPath("/other/x")).toBeUndefined();
    expect(paths.toPath("/davx/y")).toBeUndefined();
    expect(paths.href("a b/50% #1?.txt", false)).toBe("/dav/a%20b/50%25%20%231%3F.txt");
    expect(paths.href("photos", true)).toBe("/dav/photos/");
    expect(paths.href("", true)).toBe("/dav/");
  });

  it("refuses bad percent-encoding, invalid UTF-8 and encoded slashes", () => {
    expect(() => paths.toPath("/dav/%E0%A4%A")).toThrow(/percent-encoded/);
    expect(() => paths.toPath("/dav/%FF")).toThrow(/percent-encoded/);
    expect(() => paths.toPath("/dav/a%2Fb")).toThrow(/encoded \//);
  });

  it("knows parents and subtrees", () => {
    expect(parentOf("a/b/c")).toBe("a/b");
    expect(parentOf("a")).toBe("");
    expect(isUnder("a/b", "a")).toBe(true);
    expect(isUnder("ab", "a")).toBe(false);
    expect(isUnder("a", "")).toBe(true);
  });
});
