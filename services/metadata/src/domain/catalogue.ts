import type { Principal } from "#lib/auth.js";
import { failedPrecondition, invalidArgument, notFound, permissionDenied } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_HASHES_PER_CALL, MAX_OWNER_LENGTH, SHA256_HEX } from "#lib/limits.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import type { MetadataRepository } from "../ports/metadata-repository.js";
import { validateCommit, type CommitRequest } from "./commit-validation.js";
import { normalizePrefix } from "./names.js";
import { decodePageToken, encodePageToken, pageSize } from "./page-token.js";
import type { ChunkRecord, ChunkReferences, DeletedFile, FileRecord, FileVersionRecord, InspectedVersion } from "./types.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** One message for unknown ids and other owners' ids, so neither can be told apart. */
const FILE_NOT_FOUND = "file not found";
const INT32_MAX = 2 ** 31 - 1;

export interface ListFilesRequest {
  pageSize: number;
  pageToken: string;
  prefix: string;
}

export interface FilePage {
  files: FileRecord[];
  /** Empty on the last page. */
  nextPageToken: string;
}

/**
 * The metadata service's use cases. `owner` is always the caller's token
 * subject; nothing here trusts an owner named in a request.
 */
export class Catalogue {
  constructor(
    private readonly repo: MetadataRepository,
    private readonly inventory: ChunkInventory,
  ) {}

  /**
   * Validates the chunk list, makes sure block storage holds every chunk
   * with the declared size (asking with the caller's own token), then
   * commits. A chunk the collector deleted after the chunker saw it stored
   * fails here with FAILED_PRECONDITION and the upload is simply retried.
   */
  async commitFileVersion(owner: string, request: CommitRequest, as: CallIdentity): Promise<FileRecord> {
    const version = validateCommit(owner, request);
    await this.requireStored(version.chunks, as);
    return this.repo.commitFileVersion(version);
  }

  async getFile(owner: string, fileId: string): Promise<FileRecord> {
    const file = await this.repo.getFile(owner, checkFileId(fileId));
    if (!file) throw notFound(FILE_NOT_FOUND);
    return file;
  }

  /** Keyset pagination by name: stable and cheap however deep the page. */
  async listFiles(owner: string, request: ListFilesRequest): Promise<FilePage> {
    const limit = pageSize(request.pageSize);
    const prefix = normalizePrefix(request.prefix);
    const after = request.pageToken === "" ? "" : decodePageToken(request.pageToken, prefix);
    // One extra row tells whether another page follows, without a COUNT.
    const rows = await this.repo.listFiles(owner, { prefix, after, limit: limit + 1 });
    const files = rows.slice(0, limit);
    const last = files.at(-1);
    return { files, nextPageToken: rows.length > limit && last ? encodePageToken(last.name, prefix) : "" };
  }

  async listFileVersions(owner: string, fileId: string): Promise<FileVersionRecord[]> {
    const versions = await this.repo.listFileVersions(owner, checkFileId(fileId));
    // Every file has at least one version, so none means no such file.
    if (versions.length === 0) throw notFound(FILE_NOT_FOUND);
    return versions;
  }

  /** `version` 0 means the newest. */
  async listFileChunks(owner: string, fileId: string, version: number): Promise<ChunkRecord[]> {
    const id = checkFileId(fileId);
    if (!Number.isInteger(version) || version < 0 || version > INT32_MAX) throw invalidArgument("version must not be negative");
    const chunks = await this.repo.listFileChunks(owner, id, version === 0 ? undefined : version);
    if (!chunks) throw notFound(version === 0 ? FILE_NOT_FOUND : `version ${version} of the file not found`);
    return chunks;
  }

  async deleteFile(owner: string, fileId: string): Promise<DeletedFile> {
    const deleted = await this.repo.deleteFile(owner, checkFileId(fileId));
    if (!deleted) throw notFound(FILE_NOT_FOUND);
    return deleted;
  }

  /**
   * Chunks an upload stored before it failed: queued for the collector,
   * which deletes them after the grace period unless a file references them
   * by then. Only the caller's own chunks (owner is the token's subject).
   */
  async releaseChunks(owner: string, sha256s: readonly string[]): Promise<number> {
    const hashes = checkHashes(sha256s);
    if (hashes.length === 0) return 0;
    return this.repo.queueGcCandidates(owner, hashes);
  }

  /**
   * A version (0: the newest) of a named owner's file with its chunk list,
   * for sync verification. Only a service identity may name an owner.
   */
  async inspectFileVersion(caller: Principal, owner: string, fileId: string, version: number): Promise<InspectedVersion> {
    checkOwner(caller, owner);
    const id = checkFileId(fileId);
    if (!Number.isInteger(version) || version < 0 || version > INT32_MAX) throw invalidArgument("version must not be negative");
    const found = await this.repo.inspectFileVersion(owner, id, version === 0 ? undefined : version);
    if (!found) throw notFound(version === 0 ? FILE_NOT_FOUND : `version ${version} of the file not found`);
    return found;
  }

  /** Which of a named owner's chunk hashes its files still reference, and which are queued for the collector. */
  async checkChunkReferences(caller: Principal, owner: string, sha256s: readonly string[]): Promise<ChunkReferences> {
    checkOwner(caller, owner);
    const hashes = checkHashes(sha256s);
    if (hashes.length === 0) return { referenced: [], queued: [] };
    return this.repo.chunkReferences(owner, hashes);
  }

  private async requireStored(chunks: readonly ChunkRecord[], as: CallIdentity): Promise<void> {
    const wanted = new Map(chunks.map((c) => [c.sha256, c.size]));
    const hashes = [...wanted.keys()];
    for (let start = 0; start < hashes.length; start += MAX_HASHES_PER_CALL) {
      const batch = hashes.slice(start, start + MAX_HASHES_PER_CALL);
      const stored = await this.inventory.storedSizes(batch, as);
      for (const sha256 of batch) {
        const size = stored.get(sha256);
        if (size === undefined) throw failedPrecondition(`chunk ${sha256} is not in block storage; upload the file again`);
        if (size !== wanted.get(sha256)) {
          throw failedPrecondition(`chunk ${sha256} is stored with ${size} bytes, not ${wanted.get(sha256)}`);
        }
      }
    }
  }
}

/** Lowercased, so an id matches however the client capitalised it. */
function checkFileId(fileId: string): string {
  if (!UUID.test(fileId)) throw invalidArgument("file_id must be a UUID");
  return fileId.toLowerCase();
}

/** The internal RPCs that name an owner serve cfs services only. */
function checkOwner(caller: Principal, owner: string): void {
  if (!caller.isService) throw permissionDenied("only cfs services may inspect another owner's catalogue");
  if (owner === "") throw invalidArgument("owner is required");
  if (owner.length > MAX_OWNER_LENGTH) throw invalidArgument(`owner is longer than ${MAX_OWNER_LENGTH} characters`);
}

/** At most MAX_HASHES_PER_CALL well-formed hashes, duplicates dropped. */
function checkHashes(sha256s: readonly string[]): string[] {
  if (sha256s.length > MAX_HASHES_PER_CALL) {
    throw invalidArgument(`at most ${MAX_HASHES_PER_CALL} hashes per call, got ${sha256s.length}`);
  }
  sha256s.forEach((h, i) => {
    if (!SHA256_HEX.test(h)) throw invalidArgument(`sha256s[${i}] must be 64 lowercase hex characters`);
  });
  return [...new Set(sha256s)];
}
