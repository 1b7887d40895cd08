import type { Principal } from "#lib/auth.js";
import { inContext, invalidArgument, notFound } from "#lib/errors.js";
import { MAX_VERSIONS_PER_INSPECTION } from "#lib/limits.js";
import type { VerificationReads, VersionRequest } from "../ports/verification-reads.js";
import { checkFileId, checkHashes, checkOwner, checkVersion, versionNotFoundMessage } from "./request-fields.js";
import type { ChunkReferences, InspectedVersion } from "./types.js";

/**
 * What the sync service's background verification asks of the catalogue:
 * internal RPCs that name an owner, so only a service identity may call them.
 */
export class VerificationQueries {
  constructor(private readonly reads: VerificationReads) {}

  /** A version (0: the newest) of a named owner's file with its chunk list. */
  async inspectFileVersion(caller: Principal, owner: string, fileId: string, version: number): Promise<InspectedVersion> {
    const checked = checkedRequest(caller, { owner, fileId, version });
    const found = await this.reads.inspectFileVersion(checked.owner, checked.fileId, checked.version);
    if (!found) throw notFound(versionNotFoundMessage(version));
    return found;
  }

  /**
   * Several versions (InspectFileVersions), each checked as
   * inspectFileVersion checks it (errors name it as versions[i]), read in one
   * snapshot; undefined for one that does not exist.
   */
  async inspectFileVersions(
    caller: Principal,
    requests: ReadonlyArray<{ owner: string; fileId: string; version: number }>,
  ): Promise<Array<InspectedVersion | undefined>> {
    if (requests.length > MAX_VERSIONS_PER_INSPECTION) {
      throw invalidArgument(`at most ${MAX_VERSIONS_PER_INSPECTION} versions per call, got ${requests.length}`);
    }
    const checked = requests.map((r, i) => {
      try {
        return checkedRequest(caller, r);
      } catch (err) {
        throw inContext(err, `versions[${i}]`);
      }
    });
    return this.reads.inspectFileVersions(checked);
  }

  /** Which of a named owner's chunk hashes its files still reference, and which are queued for the collector. */
  async checkChunkReferences(caller: Principal, owner: string, sha256s: readonly string[]): Promise<ChunkReferences> {
    checkOwner(caller, owner);
    const hashes = checkHashes(sha256s);
    if (hashes.length === 0) return { referenced: [], queued: [] };
    return this.reads.chunkReferences(owner, hashes);
  }
}

/** One version to inspect, checked: a service caller, an owner, a file id (lowercased), a version (0: undefined, the newest). */
function checkedRequest(caller: Principal, request: { owner: string; fileId: string; version: number }): VersionRequest {
  checkOwner(caller, request.owner);
  return { owner: request.owner, fileId: checkFileId(request.fileId), version: checkVersion(request.version) };
}
