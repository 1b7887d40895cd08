import { describe, expect, it } from "vitest";
import { guessContentType } from "./content-type.js";

describe("guessContentType", () => {
  it.each([
    ["photo.JPG", "image/jpeg"],
    ["docs/report.pdf", "application/pdf"],
    ["notes.md", "text/markdown"],
    ["archive.tar.gz", "application/gzip"],
    ["Makefile", ""],
    ["weird.unknownext", ""],
    [".bashrc", ""],
  ])("%s -> %j", (name, type) => expect(guessContentType(name)).toBe(type));
});
