import { describe, expect, it } from "vitest";
import { MAX_BATCH_BYTES, MAX_FILES_PER_BATCH } from "#lib/limits.js";
import { BATCH_BYTES, BATCH_FILES, batches, type UploadAction } from "./batches.js";

const upload = (i: number, size: number): UploadAction => ({ kind: "upload", path: `f${i}`, local: { size, mtimeMs: 0, sha256: "" }, base: undefined });

describe("batches", () => {
  it("stays within what one UploadFiles call may carry", () => {
    expect(BATCH_FILES).toBeLessThanOrEqual(MAX_FILES_PER_BATCH);
    expect(BATCH_BYTES).toBeLessThanOrEqual(MAX_BATCH_BYTES);
  });

  it("groups uploads in order, at most BATCH_FILES files each", () => {
    const groups = batches(Array.from({ length: 2 * BATCH_FILES + 1 }, (_, i) => upload(i, 10)));
    expect(groups.map((g) => g.length)).toEqual([BATCH_FILES, BATCH_FILES, 1]);
    expect(groups.flat().map((a) => a.path)).toEqual(Array.from({ length: 2 * BATCH_FILES + 1 }, (_, i) => `f${i}`));
  });

  it("starts a new group before BATCH_BYTES would be exceeded", () => {
    const third = BATCH_BYTES / 3;
    const groups = batches([upload(0, third), upload(1, third), upload(2, third), upload(3, 1), upload(4, 0)]);
    expect(groups.map((g) => g.map((a) => a.path))).toEqual([["f0", "f1", "f2"], ["f3", "f4"]]);
    expect(batches([])).toEqual([]);
  });
});
