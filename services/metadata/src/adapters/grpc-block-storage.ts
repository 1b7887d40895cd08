import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import { BlockStorageServiceClient } from "#gen/cfs/blockstore/v1/blockstore.js";
import { callUnary, type CallIdentity } from "#lib/grpc-client.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import type { ChunkListing, ListedChunk } from "../ports/chunk-listing.js";
import type { QuarantinedChunk, QuarantineListing } from "../ports/damage-ledger.js";

/** Block storage over gRPC. */
export class GrpcChunkInventory implements ChunkInventory, ChunkListing, QuarantineListing {
  readonly client: BlockStorageServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new BlockStorageServiceClient(address, credentials.createInsecure(), options);
  }

  async storedSizes(hashes: readonly string[], as: CallIdentity): Promise<Map<string, number>> {
    // owner "" means the caller: commits check with the uploading user's own token.
    const response = await callUnary(
      this.client.hasChunks.bind(this.client),
      { sha256s: [...hashes], owner: "" },
      as,
      "block storage HasChunks",
    );
    return new Map(response.present.map((c) => [c.sha256, c.size]));
  }

  async deleteChunks(owner: string, hashes: readonly string[], as: CallIdentity): Promise<number> {
    const response = await callUnary(
      this.client.deleteChunks.bind(this.client),
      { sha256s: [...hashes], owner, ownerKey: "" },
      as,
      "block storage DeleteChunks",
    );
    return response.deleted;
  }

  async deleteByOwnerKey(ownerKey: string, hashes: readonly string[], as: CallIdentity): Promise<number> {
    const response = await callUnary(
      this.client.deleteChunks.bind(this.client),
      { sha256s: [...hashes], owner: "", ownerKey },
      as,
      "block storage DeleteChunks",
    );
    return response.deleted;
  }

  async listChunks(after: { ownerKey: string; sha256: string } | undefined, limit: number, as: CallIdentity): Promise<ListedChunk[]> {
    const response = await callUnary(
      this.client.listChunks.bind(this.client),
      { afterOwnerKey: after?.ownerKey ?? "", afterSha256: after?.sha256 ?? "", pageSize: limit },
      as,
      "block storage ListChunks",
    );
    // No time given: as if stored now, so never past the grace period.
    return response.chunks.map((c) => ({ ownerKey: c.ownerKey, sha256: c.sha256, size: c.size, storedAt: c.storedAt ?? new Date() }));
  }

  async listQuarantined(after: QuarantinedChunk, limit: number, as: CallIdentity): Promise<QuarantinedChunk[]> {
    const response = await callUnary(
      this.client.listQuarantinedChunks.bind(this.client),
      { afterQuarantinedAt: after.quarantinedAt, afterOwnerKey: after.ownerKey, afterSha256: after.sha256, pageSize: limit },
      as,
      "block storage ListQuarantinedChunks",
    );
    // Block storage always sets the time; a missing one would only be a malformed answer.
    return response.chunks.map((c) => ({ ownerKey: c.ownerKey, sha256: c.sha256, quarantinedAt: c.quarantinedAt ?? new Date(0) }));
  }

  close(): void {
    this.client.close();
  }
}
