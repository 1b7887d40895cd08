import { describe, expect, it } from "vitest";
import { formatBytes } from "#lib/bytes.js";
import { formatProgress, ProgressLine } from "./progress.js";

describe("formatBytes", () => {
  it.each<[number, string]>([
    [0, "0 B"],
    [1023, "1023 B"],
    [1536, "1.5 KiB"],
    [12_345_678, "11.8 MiB"],
    [64 * 1024 ** 3, "64.0 GiB"],
  ])("%i bytes is %s, as on the page", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe("formatProgress", () => {
  it("shows bytes, percent, a bar and the rate in MiB/s", () => {
    expect(formatProgress({ label: "uploading", bytes: 25 * 1024 ** 2, total: 100 * 1024 ** 2, elapsedMs: 500 })).toBe(
      "uploading  25.0 MiB / 100 MiB   25% [#####...............]  50.0 MiB/s",
    );
  });

  it("shows bytes and rate only while the total is unknown", () => {
    expect(formatProgress({ label: "downloading", bytes: 3 * 1024 ** 2, total: undefined, elapsedMs: 2000 })).toBe(
      "downloading  3.0 MiB  1.5 MiB/s",
    );
  });

  it("does not divide by zero at the start or for empty files", () => {
    expect(formatProgress({ label: "x", bytes: 0, total: 0, elapsedMs: 0 })).toBe(`x  0 B / 0 B  100% [${"#".repeat(20)}]  0.0 MiB/s`);
  });

  it("never goes past 100%", () => {
    expect(formatProgress({ label: "x", bytes: 150, total: 100, elapsedMs: 1000 })).toMatch(/ 100% \[#{20}\]/);
  });
});

describe("ProgressLine", () => {
  function line() {
    const writes: string[] = [];
    let now = 0;
    const bar = new ProgressLine({ write: (t: string) => writes.push(t) }, "up", 1000, () => now, 100);
    return { writes, bar, advance: (ms: number) => (now += ms) };
  }

  it("redraws in place at most once per interval and ends the line when finished", () => {
    const { writes, bar, advance } = line();
    bar.add(100);
    advance(10);
    bar.add(100); // too soon: not drawn
    advance(100);
    bar.add(300);
    bar.finish();
    expect(writes).toHaveLength(4);
    expect(writes.slice(0, 3).every((w) => w.startsWith("\r") && w.endsWith("\x1b[K"))).toBe(true);
    expect(writes[2]).toContain("500 B / 1000 B   50%");
    expect(writes[3]).toBe("\n");
  });

  it("ends a drawn line when abandoned, so the error starts on its own line", () => {
    const { writes, bar } = line();
    bar.add(1);
    bar.abandon();
    bar.finish();
    expect(writes.at(-1)).toBe("\n");
    expect(writes.filter((w) => w === "\n")).toHaveLength(1);
  });

  it("writes nothing when abandoned before the first draw", () => {
    const { writes, bar } = line();
    bar.abandon();
    expect(writes).toEqual([]);
  });
});
