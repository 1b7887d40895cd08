import { describe, expect, it, vi } from "vitest";
import { CfsError } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_VERSIONS_PER_INSPECTION } from "#lib/limits.js";
import type { InspectedVersion, VersionRequest } from "../ports/peers.js";
import { BatchedInspections } from "./inspection-batches.js";

const inspected = (r: VersionRequest): InspectedVersion => ({ currentVersion: 1, version: r.version || 1, size: 0, sha256: r.fileId, numChunks: 0, chunks: [] });

function catalogue() {
  const inspectFileVersions = vi.fn(async (requests: readonly VersionRequest[], _as: CallIdentity) => requests.map((r) => (r.fileId.startsWith("gone") ? undefined : inspected(r))));
  const chunkReferences = vi.fn(async () => ({ referenced: new Set<string>(["x"]), queued: new Set<string>() }));
  return { inspectFileVersions, chunkReferences };
}

describe("BatchedInspections", () => {
  it("sends the inspections asked in one turn as one call, each caller getting its own answer", async () => {
    const inner = catalogue();
    const batched = new BatchedInspections(inner);
    const as = { token: "t" };
    const answers = await Promise.all([batched.inspectFileVersion("alice", "a", 0, as), batched.inspectFileVersion("bob", "gone-b", 2, as), batched.inspectFileVersion("alice", "c", 3, as)]);
    expect(answers).toEqual([expect.objectContaining({ sha256: "a", version: 1 }), undefined, expect.objectContaining({ sha256: "c", version: 3 })]);
    expect(inner.inspectFileVersions.mock.calls).toEqual([
      [
        [
          { owner: "alice", fileId: "a", version: 0 },
          { owner: "bob", fileId: "gone-b", version: 2 },
          { owner: "alice", fileId: "c", version: 3 },
        ],
        as,
      ],
    ]);
    // A later turn makes a call of its own.
    await batched.inspectFileVersion("alice", "d", 0, as);
    expect(inner.inspectFileVersions).toHaveBeenCalledTimes(2);
  });

  it("shares a call only among inspections of one identity, and splits at MAX_VERSIONS_PER_INSPECTION", async () => {
    const inner = catalogue();
    const batched = new BatchedInspections(inner);
    const first = { token: "t" };
    const second = { token: "t" };
    const many = Array.from({ length: MAX_VERSIONS_PER_INSPECTION + 1 }, (_, i) => batched.inspectFileVersion("alice", `f${i}`, 0, first));
    await Promise.all([...many, batched.inspectFileVersion("alice", "other", 0, second)]);
    expect(inner.inspectFileVersions.mock.calls.map(([requests, as]) => [requests.length, as])).toEqual([
      [MAX_VERSIONS_PER_INSPECTION, first],
      [1, first],
      [1, second],
    ]);
  });

  it("fails every inspection of a failed call, and passes chunk reference checks through", async () => {
    const inner = catalogue();
    inner.inspectFileVersions.mockRejectedValueOnce(new CfsError("unavailable", "metadata is down"));
    const batched = new BatchedInspections(inner);
    const as = { token: "t" };
    const outcomes = await Promise.allSettled([batched.inspectFileVersion("alice", "a", 0, as), batched.inspectFileVersion("alice", "b", 0, as)]);
    expect(outcomes.map((o) => o.status === "rejected" && (o.reason as CfsError).kind)).toEqual(["unavailable", "unavailable"]);
    expect(await batched.chunkReferences("alice", ["x"], as)).toEqual({ referenced: new Set(["x"]), queued: new Set() });
    expect(inner.chunkReferences).toHaveBeenCalledWith("alice", ["x"], as);
  });
});
