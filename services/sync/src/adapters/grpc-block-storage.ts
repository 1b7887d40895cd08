import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import { BlockStorageServiceClient, type GetChunkResponse } from "../../../../gen/cfs/blockstore/v1/blockstore.js";
import { CfsError, fromGrpcError } from "../../../../lib/errors.js";
import { callMetadata, callUnary, type CallIdentity } from "../../../../lib/grpc-client.js";
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

  read(owner: string, sha256: string, maxBytes: number, as: CallIdentity): Promise<Buffer | undefined> {
    const what = "block storage GetChunk";
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let received = 0;
      let tooLong = false;
      const call = this.client.getChunk({ sha256, owner }, callMetadata(as), { deadline: Date.now() + CHUNK_CALL_TIMEOUT_MS });
      call.on("data", (message: GetChunkResponse) => {
        received += message.data.length;
        // Never buffer more than the chunk we asked for.
        if (received > maxBytes) {
          tooLong = true;
          call.cancel();
        } else {
          parts.push(message.data);
        }
      });
      call.on("error", (err) => {
        if (tooLong) return reject(new CfsError("data-loss", `${what}: the stored chunk is longer than ${maxBytes} bytes`));
        const mapped = fromGrpcError(err, what);
        if (isNotFound(mapped)) resolve(undefined);
        else reject(withCallName(mapped, what));
      });
      call.on("end", () => resolve(Buffer.concat(parts)));
    });
  }

  close(): void {
    this.client.close();
  }
}
