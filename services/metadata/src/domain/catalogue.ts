import { invalidArgument, notFound } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import type { CatalogueStore } from "../ports/catalogue-store.js";
import { validateCommit, type CommitRequest } from "./commit-validation.js";
import { normalizePrefix } from "./names.js";
import { requireStored } from "./stored-chunks.js";
import { chunkPageSize, decodeChunkPageToken, decodePageToken, encodeChunkPageToken, encodePageToken, pageSize } from "./page-token.js";
import { checkFileId, checkVersion, FILE_NOT_FOUND, versionNotFoundMessage } from "./request-fields.js";
import type { ChunkRecord, DeletedFile, FileRecord, FileVersionRecord } from "./types.js";

export interface ListFilesRequest {
  pageSize: number;
  pageToken: string;
  prefix: string;
}

export interface ListFileChunksRequest {
  version: number;
  pageSize: number;
  pageToken: string;
}

export interface ChunkRecordPage {
  chunks: ChunkRecord[];
  /** Empty on the last page. */
  nextPageToken: string;
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
   * with the declared size (requireStored), then commits.
   */
  async commitFileVersion(owner: string, request: CommitRequest, as: CallIdentity): Promise<FileRecord> {
    const version = validateCommit(owner, request);
    await requireStored(this.inventory, version.chunks, as);
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

  /**
   * A page of a version's chunk list (`version` 0: the newest); the page
   * token pins the version the first page resolved.
   */
  async listFileChunks(owner: string, fileId: string, request: ListFileChunksRequest): Promise<ChunkRecordPage> {
    const id = checkFileId(fileId);
    const limit = chunkPageSize(request.pageSize);
    const resume = request.pageToken === "" ? undefined : decodeChunkPageToken(request.pageToken);
    const requested = checkVersion(request.version);
    if (resume && requested !== undefined && resume.version !== requested) throw invalidArgument("page_token was issued for another version");
    // One extra chunk tells whether another page follows.
    const found = await this.store.listFileChunks(owner, id, resume?.version ?? requested, { fromIndex: resume?.nextIndex ?? 0, limit: limit + 1 });
    if (!found) throw notFound(versionNotFoundMessage(resume?.version ?? request.version));
    const chunks = found.chunks.slice(0, limit);
    const more = found.chunks.length > limit;
    return { chunks, nextPageToken: more ? encodeChunkPageToken(found.version, chunks.at(-1)!.index + 1) : "" };
  }

  async deleteFile(owner: string, fileId: string): Promise<DeletedFile> {
    const deleted = await this.store.deleteFile(owner, checkFileId(fileId));
    if (!deleted) throw notFound(FILE_NOT_FOUND);
    return deleted;
  }
}
