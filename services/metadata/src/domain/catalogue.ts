import type { Principal } from "#lib/auth.js";
import { alreadyExists, invalidArgument, notFound, permissionDenied } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_OWNER_LENGTH } from "#lib/limits.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import { NAME_TAKEN, type CatalogueStore } from "../ports/catalogue-store.js";
import { validateBatch, validateCommit, type CommitRequest } from "./commit-validation.js";
import { normalizeName, normalizePrefix } from "#lib/file-names.js";
import { withinQuota } from "./quota.js";
import type { ReceiptCheck } from "./chunk-receipts.js";
import { requireStored } from "./stored-chunks.js";
import {
  chunkPageSize,
  decodeChunkPageToken,
  decodePageToken,
  decodeTrashPageToken,
  encodeChunkPageToken,
  encodePageToken,
  encodeTrashPageToken,
  pageSize,
} from "./page-token.js";
import { checkFileId, checkVersion, FILE_NOT_FOUND, versionNotFoundMessage } from "./request-fields.js";
import type { CatalogueRules, ChunkRecord, FileRecord, FileVersionRecord, PurgedFile, Usage } from "./types.js";

/** The answer for a name another file outside the trash has. */
const nameTaken = (name: string) => alreadyExists(`another file is named "${name}"`);

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
    private readonly rules: CatalogueRules,
    private readonly receipts: ReceiptCheck,
  ) {}

  /**
   * Validates the chunk list, makes sure block storage holds every chunk
   * with the declared size (requireStored: its receipts, or asking it), then
   * commits.
   */
  async commitFileVersion(owner: string, request: CommitRequest, as: CallIdentity): Promise<FileRecord> {
    const version = validateCommit(owner, request);
    await requireStored(this.inventory, version.chunks, as, this.receipts.vouchedFor(owner, request.chunkReceipts ?? []));
    return withinQuota(await this.store.commitFileVersion(version, this.rules));
  }

  /**
   * Several files in one transaction, all or none (validateBatch): one
   * block-storage check for all their chunks (a receipt given with any file
   * counts for all), one commit.
   */
  async commitFileVersions(owner: string, requests: readonly CommitRequest[], as: CallIdentity): Promise<FileRecord[]> {
    const versions = validateBatch(owner, requests);
    if (versions.length === 0) return [];
    const vouched = this.receipts.vouchedFor(owner, requests.flatMap((r) => r.chunkReceipts ?? []));
    await requireStored(this.inventory, versions.flatMap((v) => v.chunks), as, vouched);
    return withinQuota(await this.store.commitFileVersions(versions, this.rules));
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

  /** To the trash: gone from every read path at once, back with undeleteFile. */
  async deleteFile(owner: string, fileId: string): Promise<FileRecord> {
    const trashed = await this.store.trashFile(owner, checkFileId(fileId));
    if (!trashed) throw notFound(FILE_NOT_FOUND);
    return trashed;
  }

  async moveFile(owner: string, fileId: string, newName: string): Promise<FileRecord> {
    const id = checkFileId(fileId);
    const name = normalizeName(newName);
    const moved = await this.store.moveFile(owner, id, name);
    if (moved === NAME_TAKEN) throw nameTaken(name);
    if (!moved) throw notFound(FILE_NOT_FOUND);
    return moved;
  }

  async restoreFileVersion(owner: string, fileId: string, version: number): Promise<FileRecord> {
    const id = checkFileId(fileId);
    const wanted = checkVersion(version);
    if (wanted === undefined) throw invalidArgument("version is required (from 1)");
    const restored = await this.store.restoreFileVersion(owner, id, wanted, this.rules);
    if (!restored) throw notFound(versionNotFoundMessage(wanted));
    return withinQuota(restored);
  }

  async listTrash(owner: string, request: { pageSize: number; pageToken: string }): Promise<FilePage> {
    const limit = pageSize(request.pageSize);
    const after = request.pageToken === "" ? undefined : decodeTrashPageToken(request.pageToken);
    const rows = await this.store.listTrash(owner, after, limit + 1);
    const files = rows.slice(0, limit);
    const last = files.at(-1);
    const more = rows.length > limit && last?.deletedAt;
    return { files, nextPageToken: more ? encodeTrashPageToken({ deletedAt: last.deletedAt!, fileId: last.fileId }) : "" };
  }

  async undeleteFile(owner: string, fileId: string): Promise<FileRecord> {
    const outcome = await this.store.undeleteFile(owner, checkFileId(fileId), this.rules);
    if (!outcome) throw notFound(FILE_NOT_FOUND);
    if (outcome === NAME_TAKEN) throw alreadyExists("another file has taken this file's name meanwhile; rename that one first");
    return withinQuota(outcome);
  }

  async purgeFile(owner: string, fileId: string): Promise<PurgedFile> {
    const purged = await this.store.purgeFile(owner, checkFileId(fileId));
    if (!purged) throw notFound(FILE_NOT_FOUND);
    return purged;
  }

  getUsage(owner: string): Promise<Usage> {
    return this.store.getUsage(owner, this.rules.defaultQuotaBytes);
  }

  /** Operators only (service identity): one user's quota; undefined puts the default back. */
  async setQuota(caller: Principal, owner: string, quotaBytes: number | undefined): Promise<void> {
    if (!caller.isService) throw permissionDenied("only cfs services and operators may set quotas");
    if (owner === "") throw invalidArgument("owner is required");
    if (owner.length > MAX_OWNER_LENGTH) throw invalidArgument(`owner is longer than ${MAX_OWNER_LENGTH} characters`);
    if (quotaBytes !== undefined && (!Number.isSafeInteger(quotaBytes) || quotaBytes < 0)) throw invalidArgument("quota_bytes must not be negative");
    await this.store.setQuota(owner, quotaBytes);
  }
}
