import type { ChunkReferences, InspectedVersion } from "../domain/types.js";

/** One version to inspect: `version` undefined means the newest. */
export interface VersionRequest {
  owner: string;
  fileId: string;
  version: number | undefined;
}

/** The catalogue as the sync service's background verification reads it (service identity only). */
export interface VerificationReads {
  /**
   * The file, one version of it (the newest when undefined) and that
   * version's chunks, read in one snapshot; undefined when there is no such
   * file or version.
   */
  inspectFileVersion(owner: string, fileId: string, version: number | undefined): Promise<InspectedVersion | undefined>;
  /** inspectFileVersion of each, in order, all read in one snapshot. */
  inspectFileVersions(requests: readonly VersionRequest[]): Promise<Array<InspectedVersion | undefined>>;
  /** Of `hashes`, which the owner's files reference and which are queued for the collector (one snapshot). */
  chunkReferences(owner: string, hashes: readonly string[]): Promise<ChunkReferences>;
}
