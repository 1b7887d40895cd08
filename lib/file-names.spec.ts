import { describe, expect, it } from "vitest";
import { invalidArgumentMessage } from "../tests/support/refusals.js";
import { normalizeName, normalizePrefix } from "./file-names.js";

const rejection = invalidArgumentMessage;

describe("normalizeName", () => {
  it.each(["a", "report.pdf", "photos/2024/IMG 1.jpg", "a/b/c", "..hidden", "a..b", "...", ".env", "x/.../y", "ünïcödé/😀", "a b"])(
    "accepts %j",
    (name) => expect(normalizeName(name)).toBe(name.normalize("NFC")),
  );

  it("NFC-normalizes, so NFD and NFC spellings are one name", () => {
    const nfd = "Cafe\u0301.txt";
    expect(normalizeName(nfd)).toBe("Caf\u00e9.txt");
    expect(normalizeName("Caf\u00e9.txt")).toBe("Caf\u00e9.txt");
  });

  it.each([
    ["", /empty/],
    ["/etc/passwd", /start with \//],
    ["a//b", /empty path segment/],
    ["a/", /empty path segment/],
    ["../secret", /"\.\." path segment/],
    ["a/../b", /"\.\." path segment/],
    ["a/..", /"\.\." path segment/],
    [".", /"\." path segment/],
    ["a/./b", /"\." path segment/],
    ["a\\b", /backslash/],
    ["..\\windows", /backslash/],
    ["nul\u0000byte", /control characters/],
    ["new\nline", /control characters/],
    ["tab\there", /control characters/],
    ["del\u007f", /control characters/],
    ["c1\u0085", /control characters/],
    ["lone\ud800", /not valid UTF-8/],
    ["replaced\uFFFDbytes", /not valid UTF-8/],
  ])("rejects %j", (name, message) => {
    expect(rejection(() => normalizeName(name))).toMatch(message);
  });

  it("limits each path segment to 255 bytes of UTF-8, what a file system takes", () => {
    expect(normalizeName(`${"a".repeat(255)}/${"b".repeat(255)}`)).toHaveLength(511);
    expect(rejection(() => normalizeName(`dir/${"a".repeat(256)}`))).toMatch(/path segment of the name is 256 bytes.*255/);
    expect(rejection(() => normalizeName("é".repeat(128)))).toMatch(/256 bytes/);
  });

  it("limits names to 1024 bytes of UTF-8 after normalization", () => {
    expect(normalizeName(`${"a".repeat(200)}/`.repeat(5).slice(0, -1) + "a".repeat(19))).toHaveLength(1023);
    expect(rejection(() => normalizeName(`${"a".repeat(200)}/`.repeat(5) + "a".repeat(20)))).toMatch(/1025 bytes.*1024/);
    // Three-byte characters count three times, however few UTF-16 units they are.
    const euros = `${"€".repeat(85)}/`.repeat(4) + "€".repeat(2);
    expect(rejection(() => normalizeName(euros))).toMatch(/1030 bytes/);
  });
});

describe("normalizePrefix", () => {
  it("accepts what a name may start with, including a folder with its slash", () => {
    expect(normalizePrefix("")).toBe("");
    expect(normalizePrefix("photos/")).toBe("photos/");
    expect(normalizePrefix("Cafe\u0301")).toBe("Caf\u00e9");
  });

  it("rejects control characters and over-long prefixes", () => {
    expect(rejection(() => normalizePrefix("a\u0000"))).toMatch(/control/);
    expect(rejection(() => normalizePrefix("a".repeat(1025)))).toMatch(/1024 bytes/);
  });
});
