/**
 * Pack objects in the object store (see pack-index.ts): written whole, read
 * by byte range, deleted once the index no longer points into them.
 */
export interface PackObjects {
  /** Stores the pack: its parts concatenated, in order, as one object, whole or not at all. */
  putPack(pack: string, parts: readonly Buffer[]): Promise<void>;
  /**
   * `size` bytes of the pack from `offset`, unverified, or undefined when the
   * pack object is not there (deleted by a repack since it was located).
   */
  readPack(pack: string, offset: number, size: number): Promise<Buffer | undefined>;
  /**
   * The chunks stored back to back in the pack from `offset`, `sizes` bytes
   * each, in order and unverified, read with one request; undefined when the
   * pack object is not there. A pack that ends before them resolves with
   * those it holds whole (fewer than `sizes`).
   */
  readChunks(pack: string, offset: number, sizes: readonly number[]): Promise<Buffer[] | undefined>;
  /** Deletes the pack objects; absent ones are no error. */
  deletePacks(packs: readonly string[]): Promise<void>;
  /** Up to `limit` pack objects in name order from just after `after` ("" from the start), each with when it was stored. */
  listPacks(after: string, limit: number): Promise<StoredPack[]>;
  /** Keeps a packed chunk's bytes in the quarantine area, as ChunkStore.quarantine keeps a loose one. */
  quarantineBytes(ownerKey: string, hash: string, data: Buffer): Promise<void>;
}

export interface StoredPack {
  pack: string;
  storedAt: Date;
}
