import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import { BlockStorageServiceClient } from "#gen/cfs/blockstore/v1/blockstore.js";
import { callUnary, type CallIdentity } from "#lib/grpc-client.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";

/** Block storage over gRPC. */
export class GrpcChunkInventory implements ChunkInventory {
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
      { sha256s: [...hashes], owner },
      as,
      "block storage DeleteChunks",
    );
    return response.deleted;
  }

  close(): void {
    this.client.close();
  }
}
