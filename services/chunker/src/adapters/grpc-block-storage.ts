import type { ChannelOptions } from "@grpc/grpc-js";
import { credentials } from "@grpc/grpc-js";
import { BlockStorageServiceClient, type GetChunkResponse } from "#gen/cfs/blockstore/v1/blockstore.js";
import { boundedDeadline, callMetadata, callUnary, cancelOnAbort, collectBytes, type CallIdentity } from "#lib/grpc-client.js";
import { fromGrpcError } from "#lib/errors.js";
import type { BlockStore } from "../ports/block-store.js";

/** Moving one chunk takes well under a second; this only bounds a stuck peer. */
const CHUNK_CALL_TIMEOUT_MS = 60_000;

/** BlockStore over gRPC: one whole chunk per message. */
export class GrpcBlockStore implements BlockStore {
  readonly client: BlockStorageServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new BlockStorageServiceClient(address, credentials.createInsecure(), options);
  }

  async missing(hashes: readonly string[], as: CallIdentity): Promise<Set<string>> {
    const response = await callUnary(
      this.client.hasChunks.bind(this.client),
      { sha256s: [...hashes], owner: "" },
      as,
      "block storage HasChunks",
    );
    const present = new Set(response.present.map((c) => c.sha256));
    return new Set(hashes.filter((h) => !present.has(h)));
  }

  put(sha256: string, data: Buffer, as: CallIdentity): Promise<void> {
    if (as.signal?.aborted) return Promise.reject(as.signal.reason as Error);
    return new Promise((resolve, reject) => {
      const call = this.client.putChunk(callMetadata(as), { deadline: chunkDeadline(as) }, (err) => {
        stopWatching();
        if (!err) resolve();
        else reject(as.signal?.aborted ? as.signal.reason : fromGrpcError(err, "block storage PutChunk"));
      });
      const stopWatching = cancelOnAbort(call, as.signal);
      call.write({ payload: { $case: "header", value: { sha256, size: data.length, owner: "" } } });
      call.write({ payload: { $case: "data", value: data } });
      call.end();
    });
  }

  get(sha256: string, size: number, as: CallIdentity): Promise<Buffer> {
    const call = this.client.getChunk({ sha256, owner: "" }, callMetadata(as), { deadline: chunkDeadline(as) });
    return collectBytes(call, (message: GetChunkResponse) => message.data, size, "block storage GetChunk", as.signal);
  }

  close(): void {
    this.client.close();
  }
}

function chunkDeadline(as: CallIdentity): Date {
  return boundedDeadline(as, CHUNK_CALL_TIMEOUT_MS);
}
