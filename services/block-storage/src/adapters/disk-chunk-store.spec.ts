import { randomBytes } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { writeAll } from "./disk-chunk-store.js";

/** A file whose writev takes at most `limit` bytes a call, as a short write(2) would. */
function shortWritingFile(limit: number): { file: Pick<FileHandle, "writev">; written: Buffer[]; calls: number } {
  const state = {
    written: [] as Buffer[],
    calls: 0,
    file: {
      writev: async (buffers: readonly NodeJS.ArrayBufferView[]) => {
        state.calls++;
        const taken = Buffer.concat(buffers as Buffer[]).subarray(0, limit);
        state.written.push(Buffer.from(taken));
        return { bytesWritten: taken.length, buffers: buffers as NodeJS.ArrayBufferView[] };
      },
    } as Pick<FileHandle, "writev">,
  };
  return state;
}

describe("writeAll", () => {
  it("writes the rest after short writes, ending inside a part and at its end", async () => {
    const data = randomBytes(100);
    const parts = [data.subarray(0, 7), Buffer.alloc(0), data.subarray(7, 10), data.subarray(10, 64), data.subarray(64)];
    const target = shortWritingFile(10);
    await writeAll(target.file, parts);
    expect(Buffer.concat(target.written)).toEqual(data);
    expect(target.calls).toBe(10);
  });

  it("writes nothing for no parts or only empty ones", async () => {
    const target = shortWritingFile(10);
    await writeAll(target.file, []);
    await writeAll(target.file, [Buffer.alloc(0)]);
    expect(target.calls).toBe(0);
  });
});
