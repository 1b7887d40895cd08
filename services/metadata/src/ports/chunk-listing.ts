import type { CallIdentity } from "#lib/grpc-client.js";

/** A chunk as block storage lists it: by its owner's key (the SHA-256 of the owner), not the owner. */
export interface ListedChunk {
  ownerKey: string;
  sha256: string;
  size: number;
  storedAt: Date;
}

/** Block storage as the sweep needs it (a service identity). */
export interface ChunkListing {
  /** Up to `limit` stored chunks in key order, from just after `after`. */
  listChunks(after: { ownerKey: string; sha256: string } | undefined, limit: number, as: CallIdentity): Promise<ListedChunk[]>;
  /** Deletes those of the owner key's chunks that are stored; returns how many were. */
  deleteByOwnerKey(ownerKey: string, hashes: readonly string[], as: CallIdentity): Promise<number>;
}
