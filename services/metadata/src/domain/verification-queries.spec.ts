import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import type { VerificationReads } from "../ports/verification-reads.js";
import { failure, strictFake } from "../../../../tests/support/strict-fake.js";
import { MAX_VERSIONS_PER_INSPECTION } from "#lib/limits.js";
import { VerificationQueries } from "./verification-queries.js";

const sha = (seed: string) => createHash("sha256").update(seed).digest("hex");
const service = { subject: "cfs-services@clients", isService: true };
const user = { subject: "alice", isService: false };

describe("VerificationQueries (InspectFileVersion(s), CheckChunkReferences)", () => {
  it("lets only a service identity inspect a named owner, and requires the owner", async () => {
    const inspectFileVersion = vi.fn(async () => undefined);
    const chunkReferences = vi.fn(async () => ({ referenced: [], queued: [] }));
    const queries = new VerificationQueries(strictFake<VerificationReads>({ inspectFileVersion, chunkReferences }));
    const id = randomUUID();
    expect((await failure(queries.inspectFileVersion(user, "alice", id, 0))).kind).toBe("permission-denied");
    expect((await failure(queries.checkChunkReferences(user, "alice", [sha("a")]))).kind).toBe("permission-denied");
    expect((await failure(queries.inspectFileVersion(service, "", id, 0))).message).toBe("owner is required");
    expect((await failure(queries.checkChunkReferences(service, "", [sha("a")]))).message).toBe("owner is required");
    expect((await failure(queries.inspectFileVersion(service, "alice", "nope", 0))).kind).toBe("invalid-argument");
    expect((await failure(queries.inspectFileVersion(service, "alice", id, -2))).kind).toBe("invalid-argument");
    expect(inspectFileVersion).not.toHaveBeenCalled();
    expect(chunkReferences).not.toHaveBeenCalled();
  });

  it("inspects the newest version for 0, a given version otherwise, NOT_FOUND when gone", async () => {
    const inspectFileVersion = vi.fn(async () => undefined);
    const queries = new VerificationQueries(strictFake<VerificationReads>({ inspectFileVersion }));
    const id = randomUUID();
    expect((await failure(queries.inspectFileVersion(service, "alice", id.toUpperCase(), 0))).message).toBe("file not found");
    expect((await failure(queries.inspectFileVersion(service, "alice", id, 4))).message).toBe("version 4 of the file not found");
    expect(inspectFileVersion.mock.calls).toEqual([
      ["alice", id, undefined],
      ["alice", id, 4],
    ]);
  });

  it("checks chunk references of the named owner with validated, distinct hashes", async () => {
    const chunkReferences = vi.fn(async (_owner: string, hashes: readonly string[]) => ({ referenced: [hashes[0]!], queued: [] }));
    const queries = new VerificationQueries(strictFake<VerificationReads>({ chunkReferences }));
    expect(await queries.checkChunkReferences(service, "bob", [sha("x"), sha("x"), sha("y")])).toEqual({ referenced: [sha("x")], queued: [] });
    expect(chunkReferences).toHaveBeenCalledWith("bob", [sha("x"), sha("y")]);
    expect(await queries.checkChunkReferences(service, "bob", [])).toEqual({ referenced: [], queued: [] });
    expect((await failure(queries.checkChunkReferences(service, "bob", ["xyz"]))).kind).toBe("invalid-argument");
  });

  it("inspects several versions checked like one each, naming a bad one as versions[i], at most MAX_VERSIONS_PER_INSPECTION", async () => {
    const inspectFileVersions = vi.fn(async (requests: readonly unknown[]) => requests.map(() => undefined));
    const queries = new VerificationQueries(strictFake<VerificationReads>({ inspectFileVersions }));
    const id = randomUUID();
    expect(await queries.inspectFileVersions(service, [{ owner: "alice", fileId: id.toUpperCase(), version: 0 }, { owner: "bob", fileId: id, version: 3 }])).toEqual([undefined, undefined]);
    expect(inspectFileVersions.mock.calls).toEqual([
      [
        [
          { owner: "alice", fileId: id, version: undefined },
          { owner: "bob", fileId: id, version: 3 },
        ],
      ],
    ]);
    expect((await failure(queries.inspectFileVersions(user, [{ owner: "alice", fileId: id, version: 0 }]))).kind).toBe("permission-denied");
    expect((await failure(queries.inspectFileVersions(service, [{ owner: "alice", fileId: id, version: 0 }, { owner: "alice", fileId: "nope", version: 0 }]))).message).toBe(
      "versions[1]: file_id must be a UUID",
    );
    const many = Array.from({ length: MAX_VERSIONS_PER_INSPECTION + 1 }, () => ({ owner: "alice", fileId: id, version: 0 }));
    expect((await failure(queries.inspectFileVersions(service, many))).kind).toBe("invalid-argument");
    expect(inspectFileVersions).toHaveBeenCalledOnce();
  });
});
