import { failedPrecondition, notFound } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import type { CatalogueStore } from "../ports/catalogue-store.js";
import { validateCommit, type CommitRequest } from "./commit-validation.js";
import { normalizePrefix } from "./names.js";
import { decodePageToken, encodePageToken, pageSize } from "./page-token.js";
import { checkFileId, checkVersion, FILE_NOT_FOUND, versionNotFoundMessage } from "./request-fields.js";
import type { ChunkRecord, DeletedFile, FileRecord, FileVersionRecord } from "./types.js";

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
 * The metadata service's file use cases. `owner` is always the caller's
 * token subject; nothing here trusts an owner named in a request.
 */
export class Catalogue {
  constructor(
    private readonly store: CatalogueStore,
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
    return this.store.commitFileVersion(version);
  }

  async getFile(owner: string, fileId: string): Promise<FileRecord> {
    const file = await this.store.getFile(owner, checkFileId(fileId));
    if (!file) throw notFound(FILE_NOT_FOUND);
    return file;
  }

  /** Keyset pagination by name: stable and cheap however deep the page. */
  async listFiles(owner: string, request: ListFilesRequest): Promise<FilePage> {
    const limit = pageSize(request.pageSize);
    const prefix = normalizePrefix(request.prefix);
    const after = request.pageToken === "" ? "" : decodePageToken(request.pageToken, prefix);
    // One extra row tells whether another page follows, without a COUNT.
    const rows = await this.store.listFiles(owner, { prefix, after, limit: limit + 1 });
    const files = rows.slice(0, limit);
    const last = files.at(-1);
    return { files, nextPageToken: rows.length > limit && last ? encodePageToken(last.name, prefix) : "" };
  }

  async listFileVersions(owner: string, fileId: string): Promise<FileVersionRecord[]> {
    const versions = await this.store.listFileVersions(owner, checkFileId(fileId));
    // Every file has at least one version, so none means no such file.
    if (versions.length === 0) throw notFound(FILE_NOT_FOUND);
    return versions;
  }

  /** `version` 0 means the newest. */
  async listFileChunks(owner: string, fileId: string, version: number): Promise<ChunkRecord[]> {
    const id = checkFileId(fileId);
    const chunks = await this.store.listFileChunks(owner, id, checkVersion(version));
    if (!chunks) throw notFound(versionNotFoundMessage(version));
    return chunks;
  }

  async deleteFile(owner: string, fileId: string): Promise<DeletedFile> {
    const deleted = await this.store.deleteFile(owner, checkFileId(fileId));
    if (!deleted) throw notFound(FILE_NOT_FOUND);
    return deleted;
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
