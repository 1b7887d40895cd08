import type { CallIdentity } from "#lib/grpc-client.js";

/** Block storage as the catalogue needs it. */
export interface ChunkInventory {
  /**
   * The stored size of each of `hashes` (at most MAX_HASHES_PER_CALL) that
   * the caller of `as` has; absent hashes are missing from the map.
   */
  storedSizes(hashes: readonly string[], as: CallIdentity): Promise<Map<string, number>>;
  /**
   * Deletes `owner`'s chunks (needs a service identity); absent ones are
   * ignored. Returns how many were deleted.
   */
  deleteChunks(owner: string, hashes: readonly string[], as: CallIdentity): Promise<number>;
}
