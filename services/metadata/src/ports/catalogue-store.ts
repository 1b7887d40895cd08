import type {
  CatalogueRules,
  ChunkRecord,
  FileRecord,
  FileVersionRecord,
  ListFilesQuery,
  NewFileVersion,
  PurgedFile,
  QuotaChecked,
  TrashKey,
  Usage,
} from "../domain/types.js";

/** A page of a chunk list: chunks with index from `fromIndex` on, at most `limit`. */
export interface ChunkListPage {
  fromIndex: number;
  limit: number;
}

export interface VersionChunks {
  /** The version the chunks belong to (the newest, resolved, when none was named). */
  version: number;
  chunks: ChunkRecord[];
}

/** A name another file outside the trash has. */
export const NAME_TAKEN = "name-taken";

/**
 * The files, versions and chunk lists as the catalogue's use cases read and
 * change them. Every read and write is scoped to an owner: a file id of
 * another owner behaves exactly like one that does not exist. Reads see only
 * files outside the trash, except listTrash. Each write is one transaction,
 * writes the sync event describing it in that transaction, and keeps the
 * owner's usage in step; writes that add content lock the owner's usage
 * first, so they are serialized per owner and never commit past the quota.
 */
export interface CatalogueStore {
  /**
   * In one transaction: creates the file (version 1) or adds the next
   * version of the owner's file with that name, stores its chunk list (or
   * copies the session's), un-queues those chunks from garbage collection,
   * prunes versions beyond the rules and writes an "upload" or "update"
   * outbox event. Content identical (size and SHA-256) to the newest version
   * adds no version: the existing file is returned and the new list's
   * unused chunks are queued for collection. A commit of a session committed
   * before, or under an idempotency key used before, changes nothing and
   * returns the version that one committed. Over the quota: nothing changes.
   */
  commitFileVersion(version: NewFileVersion, rules: CatalogueRules): Promise<QuotaChecked<FileRecord>>;
  /**
   * Several files of one owner (distinct names and idempotency keys), each
   * as commitFileVersion would commit it, in one transaction: all of them or
   * none. The quota holds for what they add together. Answers in order.
   */
  commitFileVersions(versions: readonly NewFileVersion[], rules: CatalogueRules): Promise<QuotaChecked<FileRecord[]>>;
  getFile(owner: string, fileId: string): Promise<FileRecord | undefined>;
  /** Ordered by name (byte order), at most `limit` files. */
  listFiles(owner: string, query: ListFilesQuery): Promise<FileRecord[]>;
  /** Newest first; empty when the owner has no such file. */
  listFileVersions(owner: string, fileId: string): Promise<FileVersionRecord[]>;
  /** A page of the chunks of `version` (the newest when undefined); undefined when there is no such file or version. */
  listFileChunks(owner: string, fileId: string, version: number | undefined, page: ChunkListPage): Promise<VersionChunks | undefined>;
  /** Renames a file outside the trash; the same name again changes nothing and writes no event ("move" event otherwise). */
  moveFile(owner: string, fileId: string, newName: string): Promise<FileRecord | typeof NAME_TAKEN | undefined>;
  /**
   * A new newest version with `version`'s content (its chunk list copied),
   * pruning and a "restore" event; identical content to the newest adds
   * nothing. Undefined when there is no such file or version.
   */
  restoreFileVersion(owner: string, fileId: string, version: number, rules: CatalogueRules): Promise<QuotaChecked<FileRecord> | undefined>;
  /** Moves a file to the trash ("trash" event). Undefined when not found (or in the trash already). */
  trashFile(owner: string, fileId: string): Promise<FileRecord | undefined>;
  /** The trash, most recently deleted first, after `after`; each file with deletedAt. */
  listTrash(owner: string, after: TrashKey | undefined, limit: number): Promise<FileRecord[]>;
  /** Brings a file back from the trash ("undelete" event). */
  undeleteFile(owner: string, fileId: string, rules: CatalogueRules): Promise<QuotaChecked<FileRecord> | typeof NAME_TAKEN | undefined>;
  /**
   * Deletes a file in the trash with all its versions, queues for the
   * collector every chunk hash of it that no other file of the owner uses,
   * and writes a "purge" event (without chunk hashes: bounded). Undefined
   * when there is no such file in the trash.
   */
  purgeFile(owner: string, fileId: string): Promise<PurgedFile | undefined>;
  getUsage(owner: string, defaultQuotaBytes: number): Promise<Usage>;
  /** undefined: the default applies again. */
  setQuota(owner: string, quotaBytes: number | undefined): Promise<void>;
}
