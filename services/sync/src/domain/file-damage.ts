import type { CallIdentity, ServiceIdentity } from "#lib/grpc-client.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import type { CatalogueInspector, ChunkStorage, Damage, FileDamage } from "../ports/peers.js";

const UNKNOWN: Damage = { kind: "unknown" };

/**
 * Asks, when a user asks for a file's sync status, whether block storage
 * still holds every chunk of its newest version: a chunk found corrupt (by
 * the scrubber, a download or verification) is quarantined and so absent,
 * and the file is damaged until its content is uploaded again.
 */
export class DamageProbe implements FileDamage {
  constructor(
    private readonly catalogue: CatalogueInspector,
    private readonly storage: Pick<ChunkStorage, "storedSizes">,
    private readonly identity: ServiceIdentity,
  ) {}

  async damageOf(owner: string, fileId: string, signal?: AbortSignal): Promise<Damage> {
    let as: CallIdentity;
    let version;
    try {
      as = await this.identity(signal);
      version = await this.catalogue.inspectFileVersion(owner, fileId, 0, as);
    } catch {
      return UNKNOWN;
    }
    if (!version) return UNKNOWN;
    const distinct = [...new Map(version.chunks.map((c) => [c.sha256, c])).values()];
    const missing = [];
    try {
      for (let start = 0; start < distinct.length; start += MAX_HASHES_PER_CALL) {
        const batch = distinct.slice(start, start + MAX_HASHES_PER_CALL);
        const stored = await this.storage.storedSizes(owner, batch.map((c) => c.sha256), as);
        missing.push(...batch.filter((c) => stored.get(c.sha256) !== c.size));
      }
    } catch {
      return UNKNOWN;
    }
    if (missing.length === 0) return { kind: "whole" };
    const first = missing[0]!;
    return {
      kind: "damaged",
      message:
        `version ${version.version} is damaged: ${missing.length} of its ${distinct.length} chunks are not in block storage ` +
        `(found corrupt and quarantined, or lost), e.g. chunk ${first.index} (sha256 ${first.sha256}); upload the file's content again to heal it`,
    };
  }
}
