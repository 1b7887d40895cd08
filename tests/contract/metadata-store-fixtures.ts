import { createHash } from "node:crypto";
import { chunkListDigest } from "../../services/metadata/src/domain/chunk-list-digest.js";
import type { CatalogueRules, ChunkRecord, FileRecord, NewFileVersion, OutboxEvent, PurgedFile } from "../../services/metadata/src/domain/types.js";
import type { CatalogueRetention } from "../../services/metadata/src/ports/catalogue-retention.js";
import type { CatalogueStore } from "../../services/metadata/src/ports/catalogue-store.js";
import type { CollectionQueue, ReleaseQueue } from "../../services/metadata/src/ports/collection-queue.js";
import type { DamageLedger } from "../../services/metadata/src/ports/damage-ledger.js";
import type { DeadLetters } from "../../services/metadata/src/ports/dead-letters.js";
import type { OutboxStore } from "../../services/metadata/src/ports/outbox-store.js";
import type { SweepReferences } from "../../services/metadata/src/ports/sweep-references.js";
import type { UploadSessionStore } from "../../services/metadata/src/ports/upload-session-store.js";
import type { VerificationReads } from "../../services/metadata/src/ports/verification-reads.js";

/** Every port of the metadata database, as one adapter set implements them over one schema. */
export interface MetadataStores {
  /** `query` lets a contract age rows (retention) the way time would. */
  database: { migrate(): Promise<void>; ping(): Promise<void>; query(text: string, values?: unknown[]): Promise<unknown> };
  catalogue: CatalogueStore;
  retention: CatalogueRetention;
  outbox: OutboxStore & DeadLetters;
  collection: CollectionQueue & ReleaseQueue;
  verification: VerificationReads;
  uploads: UploadSessionStore;
  sweep: SweepReferences;
  damage: DamageLedger;
}

export interface StoresUnderTest {
  /** On an empty database, not migrated yet. */
  stores: MetadataStores;
  cleanup: () => Promise<void>;
}

/**
 * What one port's contract gets: the stores (set up before its tests run)
 * and the helpers every contract uses. A contract checks its own port, and
 * reads the effects its writes must have on other ports (a commit's outbox
 * event, a delete's collection candidates) through those ports.
 */
export interface ContractContext {
  readonly stores: MetadataStores;
  newOwner(): string;
  eventsOf(owner: string): Promise<OutboxEvent[]>;
  candidatesOf(owner: string, graceSeconds?: number): ReturnType<CollectionQueue["dueGcCandidates"]>;
}

export const sha = (seed: string) => createHash("sha256").update(seed).digest("hex");

/** A version whose chunks hash the given seeds, `chunkSize` bytes each. */
export function version(owner: string, name: string, seeds: readonly string[], chunkSize = 1000): NewFileVersion {
  const chunks: ChunkRecord[] = seeds.map((seed, index) => ({ index, sha256: sha(seed), size: chunkSize, offset: index * chunkSize }));
  return {
    owner,
    name,
    contentType: "text/plain",
    size: seeds.length * chunkSize,
    sha256: sha(`${name}:${seeds.join(",")}`),
    chunks,
    chunkListDigest: chunkListDigest(chunks),
  };
}

/** A version's whole chunk list (one large page), or undefined when there is no such file or version. */
export async function chunksOf(catalogue: CatalogueStore, owner: string, fileId: string, version: number | undefined): Promise<ChunkRecord[] | undefined> {
  return (await catalogue.listFileChunks(owner, fileId, version, { fromIndex: 0, limit: 100_000 }))?.chunks;
}


/** The rules the contracts commit under unless a test names others: no quota, 100 versions, no age limit. */
export const RULES: CatalogueRules = { defaultQuotaBytes: 0, versionsMax: 100, versionsMaxAgeDays: 0 };

/** Commits a version that must not be refused by the quota. */
export async function commit(catalogue: CatalogueStore, v: NewFileVersion, rules: CatalogueRules = RULES): Promise<FileRecord> {
  const outcome = await catalogue.commitFileVersion(v, rules);
  if (outcome.kind !== "done") throw new Error(`commit refused: ${JSON.stringify(outcome)}`);
  return outcome.value;
}

/** Deletes a file for good: to the trash, then purged. */
export async function deleteForGood(catalogue: CatalogueStore, owner: string, fileId: string): Promise<PurgedFile | undefined> {
  if (!(await catalogue.trashFile(owner, fileId))) return undefined;
  return catalogue.purgeFile(owner, fileId);
}
