import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import { BlockStorageServiceClient, type GetChunkResponse } from "#gen/cfs/blockstore/v1/blockstore.js";
import { boundedDeadline, callUnary, collectBytes, peerCallMetadata, type CallIdentity } from "#lib/grpc-client.js";
import type { ChunkStorage } from "../ports/peers.js";
import { isNotFound, withCallName } from "./peer-errors.js";

/** Reading one chunk takes well under a second; this only bounds a stuck peer. */
const CHUNK_CALL_TIMEOUT_MS = 60_000;

/** Block storage over gRPC, acting for a named owner with a service identity. */
export class GrpcChunkStorage implements ChunkStorage {
  readonly client: BlockStorageServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new BlockStorageServiceClient(address, credentials.createInsecure(), options);
  }

  async storedSizes(owner: string, hashes: readonly string[], as: CallIdentity): Promise<Map<string, number>> {
    const what = "block storage HasChunks";
    try {
      const response = await callUnary(this.client.hasChunks.bind(this.client), { sha256s: [...hashes], owner }, as, what);
      return new Map(response.present.map((c) => [c.sha256, c.size]));
    } catch (err) {
      throw withCallName(err, what);
    }
  }

  async read(owner: string, sha256: string, maxBytes: number, as: CallIdentity): Promise<Buffer | undefined> {
    const what = "block storage GetChunk";
    const call = this.client.getChunk({ sha256, owner }, peerCallMetadata(as), { deadline: boundedDeadline(as, CHUNK_CALL_TIMEOUT_MS) });
    try {
      return await collectBytes(call, (message: GetChunkResponse) => message.data, maxBytes, what, as.signal);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw withCallName(err, what);
    }
  }

  close(): void {
    this.client.close();
  }
}
