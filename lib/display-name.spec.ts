import { describe, expect, it } from "vitest";
import { displayName } from "./display-name.js";

describe("displayName", () => {
  it.each([
    ["report.pdf", "report.pdf"],
    ["photos/été 2025/IMG 1.jpg", "photos/été 2025/IMG 1.jpg"],
    ["invoice\u202Efdp.exe", "invoice\\u{202E}fdp.exe"],
    ["a\u200Bb", "a\\u{200B}b"],
    ["\u2066x\u2069", "\\u{2066}x\\u{2069}"],
    ["zero\uFEFFwidth", "zero\\u{FEFF}width"],
    ["   ", "\\u{0020}\\u{0020}\\u{0020}"],
    ["docs/ /a", "docs/\\u{0020}/a"],
    ["\u3000", "\\u{3000}"],
    [" leading and trailing ", " leading and trailing "],
  ])("%j is shown as %j", (name, shown) => expect(displayName(name)).toBe(shown));
});
