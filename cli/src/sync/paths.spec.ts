import { describe, expect, it } from "vitest";
import { conflictPath, isSyncablePath, localPath } from "./paths.js";

describe("isSyncablePath", () => {
  it.each(["a.txt", "docs/report.pdf", "deep/er/still.bin", ".hidden", "dir/.cfs-sync", "café.txt", "a..b"])("accepts %s", (p) => {
    expect(isSyncablePath(p)).toBe(true);
  });

  it.each([
    ["empty", ""],
    ["absolute", "/etc/passwd"],
    ["parent segment", "../escape"],
    ["inner parent segment", "a/../../escape"],
    ["dot segment", "a/./b"],
    ["empty segment", "a//b"],
    ["trailing slash", "a/"],
    ["backslash", "a\\..\\b"],
    ["NUL", "a\0b"],
    ["control character", "a\nb"],
    ["the state directory", ".cfs-sync/state.json"],
    ["the state directory itself", ".cfs-sync"],
    ["not NFC", "cafe\u0301.txt"],
    ["over 1024 bytes", `${"x".repeat(250)}/`.repeat(4) + "x".repeat(21)],
    ["a segment over 255 bytes", `dir/${"x".repeat(256)}`],
  ])("refuses %s", (_, p) => {
    expect(isSyncablePath(p)).toBe(false);
    expect(() => localPath("/root", p)).toThrow(/refusing/);
  });

  it("maps to a path inside the folder", () => {
    expect(localPath("/sync", "a/b.txt")).toBe("/sync/a/b.txt");
  });
});

describe("conflictPath", () => {
  it("stamps local time", () => {
    expect(conflictPath("r.txt", new Date(2031, 11, 31, 23, 59, 58), () => false)).toBe("r (conflicted copy 2031-12-31 235958).txt");
  });
});
