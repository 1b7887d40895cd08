/**
 * Where chunks live. Every key is made of two lowercase hex SHA-256 digests:
 * `ownerKey` (the hash of the owner, see domain/block-service.ts ownerKeyOf)
 * and the chunk's own hash, so no owner name or file name ever reaches a path
 * or an object name.
 */
export interface ChunkStore {
  /** The sizes of those `hashes` that are stored under ownerKey; absent ones are left out. */
  has(ownerKey: string, hashes: readonly string[]): Promise<Map<string, number>>;
  /**
   * Stores the chunk atomically (a reader never sees part of it under its
   * key). Resolves false, writing nothing, when it is already stored.
   *
   * The chunk comes as the parts it arrived in: their concatenation, in
   * order, is the chunk. Any part may be empty, and no parts at all is the
   * empty chunk. Joining them would cost a copy of every chunk that came in
   * more than one message, so a store writes them as they are. It only reads
   * them and keeps none of them once put settles; until then the caller
   * leaves them unchanged.
   */
  put(ownerKey: string, hash: string, parts: readonly Buffer[]): Promise<boolean>;
  /**
   * The stored bytes, unverified (the caller checks them against the hash),
   * or undefined when absent. Rejects with DATA_LOSS rather than reading an
   * object larger than any chunk into memory.
   */
  get(ownerKey: string, hash: string): Promise<Buffer | undefined>;
  /**
   * What get() answers for each of `hashes`, in their order (a hash named
   * twice is read twice), with about `ahead` chunks (at most twice as many)
   * read ahead of the one the caller takes. A failed read ends the iteration
   * there, so the error belongs to the next hash the caller expected. A
   * caller that stops early returns the iterator, and its reads stop. Each
   * chunk comes in memory of its own that the store keeps no hold of, so
   * the caller may use that memory again once done with it (main.ts's pool).
   */
  getMany(ownerKey: string, hashes: readonly string[], ahead: number): AsyncGenerator<Buffer | undefined>;
  /** Removes those of `hashes` that are stored; resolves how many it removed. */
  delete(ownerKey: string, hashes: readonly string[]): Promise<number>;
  /**
   * Moves a stored chunk out of its key into a quarantine area (kept for an
   * operator, never served, never counted by has(), so the next put of the
   * same content stores it again). Resolves false when it is not stored.
   */
  quarantine(ownerKey: string, hash: string): Promise<boolean>;
  /**
   * Up to `limit` quarantined chunks in quarantine order (the time, to the
   * millisecond, then ownerKey, then hash), from just after `after`: the
   * metadata service pages through them to report the files they damaged.
   * A chunk quarantined twice (stored again, found corrupt again) is listed
   * once per time.
   */
  listQuarantined(after: QuarantinedChunk, limit: number): Promise<QuarantinedChunk[]>;
  /**
   * Up to `limit` stored chunks (quarantined ones left out) in key order
   * (ownerKey, then hash), from just after `after`: a scan that pages with
   * the last entry it got sees every chunk stored for its whole length once.
   */
  list(after: ChunkPosition | undefined, limit: number): Promise<ListedChunk[]>;
  /** Resolves when the backing storage answers (the health check). */
  check(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Allocates the buffer a read chunk is read into (Buffer.allocUnsafe by
 * default): main.ts passes one the gRPC codec can send without copying it.
 */
export type ChunkAllocator = (size: number) => Buffer;

/** A place in the key order of list(). */
export interface ChunkPosition {
  ownerKey: string;
  hash: string;
}

export interface ListedChunk extends ChunkPosition {
  size: number;
  /** When it was stored (a file's mtime, an object's Last-Modified). */
  storedAt: Date;
}

/**
 * A chunk moved to quarantine, and when; also a place in the order of
 * listQuarantined(), where an empty ownerKey and hash sort before every
 * chunk quarantined at that time.
 */
export interface QuarantinedChunk extends ChunkPosition {
  quarantinedAt: Date;
}

/** Whether `a` comes after `b` in listQuarantined() order. */
export function isQuarantinedAfter(a: QuarantinedChunk, b: QuarantinedChunk): boolean {
  const at = a.quarantinedAt.getTime() - b.quarantinedAt.getTime();
  return at > 0 || (at === 0 && isAfter(a, b));
}

/**
 * The quarantine time as a name's leading part: fixed width, so that names
 * sort (as strings, in a directory listing or an object listing) in the
 * order the chunks were quarantined.
 */
export function quarantineStamp(at: Date): string {
  return String(at.getTime()).padStart(15, "0");
}

export const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** Whether `a` comes after `b` in list() order. */
export function isAfter(a: ChunkPosition, b: ChunkPosition): boolean {
  return a.ownerKey > b.ownerKey || (a.ownerKey === b.ownerKey && a.hash > b.hash);
}

/**
 * `<ownerKey>/<hash[0:2]>/<hash>`: the two-character fan-out keeps a
 * directory (or a listing prefix) from growing to millions of entries. Both
 * parts are re-checked here, so an adapter can never be led outside its root
 * even by a caller that skipped the domain's validation.
 */
export function chunkKey(ownerKey: string, hash: string): string {
  if (!HEX_SHA256.test(ownerKey) || !HEX_SHA256.test(hash)) {
    throw new Error("chunk keys are built from two lowercase hex SHA-256 digests");
  }
  return `${ownerKey}/${hash.slice(0, 2)}/${hash}`;
}
