import type { CallIdentity } from "#lib/grpc-client.js";

export interface InspectedChunk {
  index: number;
  sha256: string;
  size: number;
  offset: number;
}

/** One version of a file as the metadata service records it. */
export interface InspectedVersion {
  /** The file's newest version. */
  currentVersion: number;
  version: number;
  size: number;
  sha256: string;
  numChunks: number;
  chunks: InspectedChunk[];
}

/**
 * The metadata service as verification needs it. Calls name the owner and
 * carry a service identity. Errors other than "not found" reject (a peer
 * that is down rejects with an "unavailable" CfsError).
 */
export interface CatalogueInspector {
  /** `version` 0 means the newest; undefined when the file or version does not exist. */
  inspectFileVersion(owner: string, fileId: string, version: number, as: CallIdentity): Promise<InspectedVersion | undefined>;
  /** Of at most MAX_HASHES_PER_CALL hashes, which the owner's files reference and which are queued for collection. */
  chunkReferences(owner: string, hashes: readonly string[], as: CallIdentity): Promise<{ referenced: Set<string>; queued: Set<string> }>;
}

/** One version to inspect: `version` 0 means the newest. */
export interface VersionRequest {
  owner: string;
  fileId: string;
  version: number;
}

/** The metadata service's inspection of several versions in one call, as verification's batching needs it. */
export interface VersionInspections {
  /** inspectFileVersion of each (at most MAX_VERSIONS_PER_INSPECTION), in order, in one call and one snapshot. */
  inspectFileVersions(requests: readonly VersionRequest[], as: CallIdentity): Promise<Array<InspectedVersion | undefined>>;
}

/**
 * Whether the metadata service has committed a file of the owner (trash
 * included), asked when sync has no event of it yet: the outbox relays a
 * commit's event up to a relay interval later.
 */
export interface CommittedFiles {
  isCommitted(owner: string, fileId: string): Promise<boolean>;
}

/**
 * What block storage holds of a file's newest version now: "damaged" names
 * what is missing; "unknown" when the file is gone or the peers do not
 * answer (the status still answers from sync's own events).
 */
export type Damage = { kind: "damaged"; message: string } | { kind: "whole" } | { kind: "unknown" };

/** Whether a file's newest version is damaged now (GetFileSyncStatus); its calls end when `signal` aborts (the caller gave up). */
export interface FileDamage {
  damageOf(owner: string, fileId: string, signal?: AbortSignal): Promise<Damage>;
}

/** Block storage as verification needs it, acting for a named owner. */
export interface ChunkStorage {
  /** The stored size of each of at most MAX_HASHES_PER_CALL hashes the owner has; absent ones are left out. */
  storedSizes(owner: string, hashes: readonly string[], as: CallIdentity): Promise<Map<string, number>>;
  /**
   * The chunk's bytes, at most `maxBytes` of them; undefined when absent.
   * Rejects with a "data-loss" CfsError when block storage finds the stored
   * bytes do not match their hash.
   */
  read(owner: string, sha256: string, maxBytes: number, as: CallIdentity): Promise<Buffer | undefined>;
}

/** One chunk to read: its hash, and the most bytes it may have. */
export interface ChunkToRead {
  sha256: string;
  maxBytes: number;
}

/** Block storage's reading of many chunks on one stream, as verification's batching needs it. */
export interface ChunkBatchReads {
  /**
   * The bytes of each chunk (at most MAX_HASHES_PER_CALL), in order. The
   * first chunk that is not stored ends it with a "not-found" CfsError, one
   * that is corrupt (or longer than its maxBytes) with "data-loss": the
   * error is about the chunk after the last one yielded.
   */
  readChunks(owner: string, chunks: readonly ChunkToRead[], as: CallIdentity): AsyncIterable<Buffer>;
}
