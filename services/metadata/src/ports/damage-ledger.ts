import type { CallIdentity } from "#lib/grpc-client.js";

/** A chunk block storage found corrupt and quarantined, by its owner's key (the SHA-256 of the owner). */
export interface QuarantinedChunk {
  ownerKey: string;
  sha256: string;
  /** To the millisecond. */
  quarantinedAt: Date;
}

/** A file reported damaged: its newest version lists a quarantined chunk. */
export interface DamagedFile {
  fileId: string;
  name: string;
  version: number;
}

/** The catalogue as the damage reporter needs it. */
export interface DamageLedger {
  /** The owners behind these keys that the catalogue knows; unknown keys are left out. */
  ownersOf(ownerKeys: readonly string[]): Promise<Map<string, string>>;
  /** The latest quarantine time reported so far; undefined before the first report. */
  latestReported(): Promise<Date | undefined>;
  /**
   * In one transaction, unless this quarantine was reported before (then
   * undefined): writes a "damaged" outbox event for each file of `owner`
   * outside the trash whose newest version lists the chunk, and remembers
   * the quarantine as reported. An owner the catalogue does not know
   * (undefined) has no files: the quarantine is only remembered.
   */
  report(chunk: QuarantinedChunk, owner: string | undefined): Promise<DamagedFile[] | undefined>;
}

/** Block storage's quarantine as the damage reporter reads it (a service identity). */
export interface QuarantineListing {
  /**
   * Up to `limit` quarantined chunks in quarantine order (time, owner key,
   * hash) from just after `after`; an empty owner key and hash: from the
   * first quarantined at or after its time.
   */
  listQuarantined(after: QuarantinedChunk, limit: number, as: CallIdentity): Promise<QuarantinedChunk[]>;
}
