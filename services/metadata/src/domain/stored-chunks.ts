import { failedPrecondition } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";

/**
 * Makes sure block storage holds every chunk with its size, asking with the
 * caller's own token (so only the caller's chunks count) about each that
 * `vouched` (what block storage's receipts vouch for, ReceiptCheck) does not
 * hold with that size. A chunk the collector deleted after the upload saw it
 * stored fails here with FAILED_PRECONDITION, and the upload is simply
 * retried.
 */
export async function requireStored(
  inventory: ChunkInventory,
  chunks: Iterable<{ sha256: string; size: number }>,
  as: CallIdentity,
  vouched: ReadonlyMap<string, number> = new Map(),
): Promise<void> {
  const wanted = new Map<string, number>();
  for (const c of chunks) if (vouched.get(c.sha256) !== c.size) wanted.set(c.sha256, c.size);
  const hashes = [...wanted.keys()];
  for (let start = 0; start < hashes.length; start += MAX_HASHES_PER_CALL) {
    const batch = hashes.slice(start, start + MAX_HASHES_PER_CALL);
    const stored = await inventory.storedSizes(batch, as);
    for (const sha256 of batch) {
      const size = stored.get(sha256);
      if (size === undefined) throw failedPrecondition(`chunk ${sha256} is not in block storage; upload the file again`);
      if (size !== wanted.get(sha256)) throw failedPrecondition(`chunk ${sha256} is stored with ${size} bytes, not ${wanted.get(sha256)}`);
    }
  }
}
