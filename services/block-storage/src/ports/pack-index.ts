import type { ChunkPosition, ListedChunk } from "./chunk-store.js";

/**
 * Packs: many chunks written as one object (restic and kopia do the same),
 * so that the object store pays its per-object cost once for all of them.
 * A pack is named by a random key, written whole by one PUT, and only then
 * recorded here with its chunks; a chunk is read back by a byte range of its
 * pack. The index is shared by every block-storage replica (PostgreSQL).
 */

/** A chunk's place in a pack: `size` bytes from `offset`. */
export interface PackEntry {
  ownerKey: string;
  hash: string;
  offset: number;
  size: number;
}

/**
 * Where an indexed chunk's bytes are: in a pack object, or (`inline`) in a
 * small pack kept by the index itself (addPack's `data`).
 */
export interface PackedLocation {
  pack: string;
  offset: number;
  size: number;
  inline: boolean;
}

/** What the packed chunk store asks of the index. */
export interface PackIndex {
  /** The sizes of those `hashes` indexed under ownerKey; absent ones are left out. */
  sizes(ownerKey: string, hashes: readonly string[]): Promise<Map<string, number>>;
  /** Where the chunk is, or undefined when it is not indexed. */
  locate(ownerKey: string, hash: string): Promise<PackedLocation | undefined>;
  /** Where each of those `hashes` indexed under ownerKey is (one lookup for a download's page of chunks); absent ones are left out. */
  locateMany(ownerKey: string, hashes: readonly string[]): Promise<Map<string, PackedLocation>>;
  /**
   * Records a pack whose object (`bytes` long) is stored whole, with its
   * entries, in one transaction; with `data` (the whole pack, `bytes` long)
   * the pack is kept by the index itself instead of an object (an inline
   * pack: a small one, so that a small upload costs no object write). An
   * entry whose ownerKey and hash are indexed already (in this call or
   * before) is not recorded: the earlier location stays and these bytes are
   * dead space in the new pack. Resolves, entry by entry, whether it was
   * recorded.
   */
  addPack(pack: string, bytes: number, entries: readonly PackEntry[], data?: Buffer): Promise<boolean[]>;
  /**
   * The chunks stored back to back in an inline pack from `offset`, `sizes`
   * bytes each, in order and unverified (PackObjects.readChunks for the
   * packs the index keeps); undefined when the pack is not recorded. A pack
   * that ends before them resolves with those it holds whole.
   */
  readInline(pack: string, offset: number, sizes: readonly number[]): Promise<Buffer[] | undefined>;
  /** Drops those of `hashes` indexed under ownerKey (their bytes become dead space); resolves the hashes dropped. */
  remove(ownerKey: string, hashes: readonly string[]): Promise<string[]>;
  /** Up to `limit` indexed chunks in (ownerKey, hash) order from just after `after`. */
  list(after: ChunkPosition | undefined, limit: number): Promise<ListedChunk[]>;
  /** Resolves when the index answers (the health check). */
  check(): Promise<void>;
}

/** A pack that is mostly dead space, claimed by one repacker for a while. */
export interface SparsePack {
  pack: string;
  bytes: number;
  liveBytes: number;
  /** Kept by the index (no object to delete); claimed only once empty. */
  inline: boolean;
}

/** What the repacker asks of the index. */
export interface PackMaintenance {
  /**
   * Claims up to `limit` packs recorded before `writtenBefore` whose live
   * bytes are at most `maxLiveRatio` of their size (emptiest first), and
   * that no repacker claimed in the last `claimMs`: two replicas never
   * repack the same pack at once. An inline pack is claimed only when
   * nothing is left in it (its row goes with its bytes; rewriting a small
   * pack would free little).
   */
  claimSparsePacks(maxLiveRatio: number, writtenBefore: Date, claimMs: number, limit: number): Promise<SparsePack[]>;
  /** The entries still indexed in `pack`, in offset order. */
  liveEntries(pack: string): Promise<PackEntry[]>;
  /**
   * In one transaction: every entry of `moved` still indexed in `from` now
   * points into the pack `to` (stored whole already, `to.bytes` long, at the
   * entry's new offset), `to` is recorded, and `from` is dropped from the
   * index when nothing is left in it. An entry removed meanwhile stays
   * removed (its bytes are dead space in `to`). Resolves how many entries
   * moved and whether `from` was dropped (its object may then be deleted).
   */
  movePack(from: string, to: { pack: string; bytes: number; entries: readonly PackEntry[] }): Promise<{ moved: number; dropped: boolean }>;
  /** Drops `pack` from the index when nothing is indexed in it; resolves whether it did. */
  dropEmptyPack(pack: string): Promise<boolean>;
  /** Those of `packs` that the index has recorded (the others are objects no index entry points into). */
  knownPacks(packs: readonly string[]): Promise<Set<string>>;
}
