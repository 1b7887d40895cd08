import type { Principal } from "#lib/auth.js";
import { notFound } from "#lib/errors.js";
import type { VerificationReads } from "../ports/verification-reads.js";
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
    checkOwner(caller, owner);
    const id = checkFileId(fileId);
    const found = await this.reads.inspectFileVersion(owner, id, checkVersion(version));
    if (!found) throw notFound(versionNotFoundMessage(version));
    return found;
  }

  /** Which of a named owner's chunk hashes its files still reference, and which are queued for the collector. */
  async checkChunkReferences(caller: Principal, owner: string, sha256s: readonly string[]): Promise<ChunkReferences> {
    checkOwner(caller, owner);
    const hashes = checkHashes(sha256s);
    if (hashes.length === 0) return { referenced: [], queued: [] };
    return this.reads.chunkReferences(owner, hashes);
  }
}
