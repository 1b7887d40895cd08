import { describe, expect, it } from "vitest";
import type { File } from "#gen/cfs/metadata/v1/metadata.js";
import { filesTable, formatTime, toJson, versionsTable } from "./format.js";

const file: File = {
  fileId: "0b6f3c1e-2a7d-4c55-9a10-3f2e1d0c9b8a",
  name: "docs/a long name.txt",
  size: 1_234_567,
  sha256: "ab".repeat(32),
  contentType: "text/plain",
  numChunks: 2,
  version: 12,
  createdAt: new Date("2030-01-02T03:04:05.678Z"),
  updatedAt: new Date("2030-01-03T03:04:05.678Z"),
};

describe("tables", () => {
  it("aligns columns, right-aligns numbers and leaves the name unpadded last", () => {
    const small = { ...file, fileId: "11111111-2222-4333-8444-555555555555", name: "b", size: 5, version: 1 };
    expect(filesTable([file, small]).split("\n")).toEqual([
      "FILE ID                               VERSION     SIZE  UPDATED (UTC)        NAME",
      "0b6f3c1e-2a7d-4c55-9a10-3f2e1d0c9b8a       12  1.2 MiB  2030-01-03 03:04:05  docs/a long name.txt",
      "11111111-2222-4333-8444-555555555555        1      5 B  2030-01-03 03:04:05  b",
      "",
    ]);
  });

  it("shows deceptive names escaped, so one cannot pose as another", () => {
    expect(filesTable([{ ...file, name: "invoice\u202Efdp.exe" }])).toContain("invoice\\u{202E}fdp.exe");
  });

  it("prints only the header for an empty listing", () => {
    expect(versionsTable([])).toBe("VERSION  SIZE  CREATED (UTC)  SHA256\n");
  });

  it("shows a missing time as a dash", () => {
    expect(formatTime(undefined)).toBe("-");
  });
});

describe("toJson", () => {
  it("prints times as ISO 8601 and ends with a newline", () => {
    const text = toJson({ files: [file] });
    expect(JSON.parse(text)).toMatchObject({ files: [{ fileId: file.fileId, size: 1_234_567, createdAt: "2030-01-02T03:04:05.678Z" }] });
    expect(text.endsWith("}\n")).toBe(true);
  });
});
