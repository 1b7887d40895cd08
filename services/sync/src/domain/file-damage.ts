import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import type { CatalogueInspector, ChunkStorage, FileDamage } from "../ports/peers.js";

/**
 * Asks, when a user asks for a file's sync status, whether block storage
 * still holds every chunk of its newest version: a chunk found corrupt (by
 * the scrubber, a download or verification) is quarantined and so absent,
 * and the file is damaged until its content is uploaded again.
 */
export class DamageProbe implements FileDamage {
  constructor(
    private readonly catalogue: CatalogueInspector,
    private readonly storage: ChunkStorage,
    private readonly identity: () => Promise<CallIdentity>,
  ) {}

  async damageOf(owner: string, fileId: string): Promise<string | undefined> {
    let as: CallIdentity;
    let version;
    try {
      as = await this.identity();
      version = await this.catalogue.inspectFileVersion(owner, fileId, 0, as);
    } catch {
      // Metadata down: the status still answers from sync's own events.
      return undefined;
    }
    if (!version) return undefined;
    const distinct = [...new Map(version.chunks.map((c) => [c.sha256, c])).values()];
    const missing = [];
    try {
      for (let start = 0; start < distinct.length; start += MAX_HASHES_PER_CALL) {
        const batch = distinct.slice(start, start + MAX_HASHES_PER_CALL);
        const stored = await this.storage.storedSizes(owner, batch.map((c) => c.sha256), as);
        missing.push(...batch.filter((c) => stored.get(c.sha256) !== c.size));
      }
    } catch {
      return undefined;
    }
    if (missing.length === 0) return undefined;
    const first = missing[0]!;
    return (
      `version ${version.version} is damaged: ${missing.length} of its ${distinct.length} chunks are not in block storage ` +
      `(found corrupt and quarantined, or lost), e.g. chunk ${first.index} (sha256 ${first.sha256}); upload the file's content again to heal it`
    );
  }
}
