import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import { BlockStorageServiceClient, type ReadChunksResponse } from "#gen/cfs/blockstore/v1/blockstore.js";
import { CfsError, dataLoss, fromGrpcError } from "#lib/errors.js";
import { boundedDeadline, callUnary, cancelOnAbort, peerCallMetadata, type CallIdentity } from "#lib/grpc-client.js";
import type { ChunkBatchReads, ChunkStorage, ChunkToRead } from "../ports/peers.js";
import { withCallName } from "./peer-errors.js";

/** Reading a verification run's chunks takes well under a second; this only bounds a stuck peer. */
const READ_CALL_TIMEOUT_MS = 60_000;

/** Block storage over gRPC, acting for a named owner with a service identity. */
export class GrpcChunkStorage implements Pick<ChunkStorage, "storedSizes">, ChunkBatchReads {
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

  async *readChunks(owner: string, chunks: readonly ChunkToRead[], as: CallIdentity): AsyncGenerator<Buffer> {
    if (chunks.length === 0) return;
    const what = "block storage ReadChunks";
    const call = this.client.readChunks({ sha256s: chunks.map((c) => c.sha256), owner }, peerCallMetadata(as), {
      deadline: boundedDeadline(as, READ_CALL_TIMEOUT_MS),
    });
    const stopWatching = cancelOnAbort(call, as.signal);
    // A chunk's bytes come in one or more messages of its index, before the next chunk's.
    let index = 0;
    let parts: Buffer[] = [];
    let received = 0;
    const whole = () => (parts.length === 1 ? parts[0]! : Buffer.concat(parts, received));
    let failure: unknown;
    let chunkBegunIsWhole = false;
    try {
      for await (const message of call as AsyncIterable<ReadChunksResponse>) {
        if (message.index === index + 1 && received > 0) {
          yield whole();
          index++;
          parts = [];
          received = 0;
        }
        const expected = chunks[index];
        if (!expected || message.index !== index) {
          failure = dataLoss(`chunk ${message.index} arrived where chunk ${index} was due`);
          break;
        }
        received += message.data.length;
        if (received > expected.maxBytes) {
          failure = dataLoss(`chunk ${expected.sha256} is longer than ${expected.maxBytes} bytes`);
          break;
        }
        parts.push(message.data);
      }
    } catch (err) {
      failure = fromGrpcError(err, what);
      // Block storage verifies a chunk before it sends any of it, so its
      // NOT_FOUND or DATA_LOSS is about the chunk after the last one begun,
      // and that one is whole. Any other end may have cut it short.
      chunkBegunIsWhole = failure instanceof CfsError && (failure.kind === "not-found" || failure.kind === "data-loss");
    } finally {
      stopWatching();
      call.cancel();
    }
    if (received > 0 && (failure === undefined || chunkBegunIsWhole)) {
      yield whole();
      index++;
    }
    if (failure !== undefined) throw withCallName(failure, what);
    if (index < chunks.length) throw withCallName(dataLoss(`the stream ended ${chunks.length - index} chunks early`), what);
  }

  close(): void {
    this.client.close();
  }
}
