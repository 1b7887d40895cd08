import { createHash } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { failure } from "../../../../tests/support/strict-fake.js";
import { ChunkRelease } from "./chunk-release.js";

const sha = (seed: string) => createHash("sha256").update(seed).digest("hex");

describe("ChunkRelease (ReleaseChunks)", () => {
  it("queues released chunks for the caller, deduplicated, and validates them first", async () => {
    const queueGcCandidates = vi.fn(async (_owner: string, hashes: readonly string[]) => hashes.length);
    const release = new ChunkRelease({ queueGcCandidates });
    expect(await release.releaseChunks("alice", [sha("a"), sha("b"), sha("a")])).toBe(2);
    expect(queueGcCandidates).toHaveBeenCalledWith("alice", [sha("a"), sha("b")]);
    expect(await release.releaseChunks("alice", [])).toBe(0);
    expect(queueGcCandidates).toHaveBeenCalledOnce();

    const tooMany = Array.from({ length: 1001 }, (_, i) => sha(`h${i}`));
    expect((await failure(release.releaseChunks("alice", tooMany))).message).toMatch(/at most 1000/);
    const bad = await failure(release.releaseChunks("alice", [sha("a"), sha("b").toUpperCase()]));
    expect(bad.kind).toBe("invalid-argument");
    expect(bad.message).toMatch(/sha256s\[1\]/);
    expect(queueGcCandidates).toHaveBeenCalledOnce();
  });
});
