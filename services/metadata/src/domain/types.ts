/** A file as users see it: its newest version's content attributes. */
export interface FileRecord {
  fileId: string;
  name: string;
  size: number;
  sha256: string;
  contentType: string;
  numChunks: number;
  /** The newest version, from 1. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
  /** Set only for a file in the trash. */
  deletedAt?: Date | undefined;
}

export interface FileVersionRecord {
  fileId: string;
  version: number;
  size: number;
  sha256: string;
  contentType: string;
  numChunks: number;
  createdAt: Date;
}

/** One chunk of a file version, in order. */
export interface ChunkRecord {
  index: number;
  sha256: string;
  size: number;
  offset: number;
}

/** What CommitFileVersion stores once the request is validated. */
export interface NewFileVersion {
  owner: string;
  /** NFC-normalized and validated. */
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  /** The chunk list; empty when it comes from `session`. */
  chunks: readonly ChunkRecord[];
  /** chunkListDigest() of the chunk list. */
  chunkListDigest: string;
  /** UploadMetadata.idempotency_key: a commit with a key the owner used before returns that commit's version. */
  idempotencyKey?: string | undefined;
  /** Committing an upload session: its chunk list is copied in the database, and the session marked committed. */
  session?: { uploadId: string; chunkCount: number } | undefined;
}

export interface ListFilesQuery {
  /** Only names starting with this (may be empty). */
  prefix: string;
  /** Only names sorting strictly after this (byte order); "" for the first page. */
  after: string;
  limit: number;
}

/** What PurgeFile (or the trash retention) removed for good. */
export interface PurgedFile {
  fileId: string;
  name: string;
  version: number;
  /** Distinct chunk hashes newly queued for the collector. */
  queuedChunks: number;
}

/** The rules every write that adds content applies in its transaction. */
export interface CatalogueRules {
  /** The quota of an owner without SetQuota's override; 0: unlimited. */
  defaultQuotaBytes: number;
  /** Versions kept per file, the newest included (CFS_VERSIONS_MAX). */
  versionsMax: number;
  /** Versions older than this many days go, except the newest; 0: no age limit. */
  versionsMaxAgeDays: number;
}

/** A write that adds content: done, or refused by the quota with nothing changed. */
export type QuotaChecked<T> =
  | { kind: "done"; value: T }
  | { kind: "over-quota"; usedBytes: number; quotaBytes: number; addedBytes: number };

/** What an owner stores (GetUsage). */
export interface Usage {
  /** Newest versions of every file, trash included. */
  usedBytes: number;
  /** 0: unlimited. */
  quotaBytes: number;
  /** Files outside the trash. */
  fileCount: number;
  trashBytes: number;
}

/** Where a ListTrash page continues: after this (deleted_at, file_id), newest first. */
export interface TrashKey {
  deletedAt: Date;
  fileId: string;
}

/** "damaged": block storage quarantined a chunk of the file's newest version (domain/damage-reports.ts). */
export type EventType = "upload" | "update" | "delete" | "move" | "restore" | "trash" | "undelete" | "purge" | "damaged";

/** A sync event waiting in the outbox. */
export interface OutboxEvent {
  /** Outbox position (a bigint, kept as its decimal string). */
  seq: string;
  eventId: string;
  owner: string;
  fileId: string;
  eventType: EventType;
  name: string;
  version: number;
  size: number;
  sha256: string;
  /**
   * Delete events of old: the distinct chunk hashes of every version of the
   * deleted file. Empty otherwise: a purge event lists none, so that no event
   * grows with a file's history.
   */
  chunkSha256s: string[];
  createdAt: Date;
}

/** A queued chunk whose grace period is over. */
export interface GcCandidate {
  owner: string;
  sha256: string;
  /**
   * Re-checked when read: a file committed after the chunk was queued uses it
   * again, so it must be kept and the stale candidate dropped.
   */
  stillReferenced: boolean;
}

/** One version of a file with its chunk list, as sync verification inspects it. */
export interface InspectedVersion {
  /** The file as users see it (its newest version). */
  file: FileRecord;
  /** The version asked for (the newest when none was named). */
  version: FileVersionRecord;
  /** In order: indexes 0..n-1 as stored. */
  chunks: ChunkRecord[];
}

/** What the catalogue knows of some of an owner's chunk hashes. */
export interface ChunkReferences {
  /** Hashes that at least one version of the owner's files lists. */
  referenced: string[];
  /** Hashes waiting in gc_candidates for the collector. */
  queued: string[];
}

/** An upload session (UploadSessionService) as stored. */
export interface UploadSessionRecord {
  uploadId: string;
  owner: string;
  /** NFC-normalized and validated. */
  name: string;
  contentType: string;
  size: number;
  /** What the client declared, if anything. */
  sha256: string | undefined;
  chunkCount: number;
  chunksDeclared: number;
  bytesDeclared: number;
  /** chunkListDigest() once the whole list is declared. */
  chunkListDigest: string | undefined;
  createdAt: Date;
  expiresAt: Date;
  /** Set once committed: the file as that commit left it. */
  committed: FileRecord | undefined;
}

/** A chunk as a client declares it. */
export interface ChunkSpec {
  sha256: string;
  size: number;
}

/** What appending a page to a session's chunk list came to. */
export type AppendOutcome =
  | { kind: "appended"; session: UploadSessionRecord }
  /** The page had been declared before, identically: nothing changed (a retried call). */
  | { kind: "repeated"; session: UploadSessionRecord }
  /** The page overlaps what was declared with other chunks. */
  | { kind: "conflict"; session: UploadSessionRecord }
  /** The page does not start where the list ends. */
  | { kind: "gap"; session: UploadSessionRecord }
  /** More chunks or bytes than the session declared. */
  | { kind: "overflow"; session: UploadSessionRecord; what: string };
