import type { BlockStorageServiceService, GetChunkResponse, PutChunkRequest } from "#gen/cfs/blockstore/v1/blockstore.js";
import { CfsError, invalidArgument } from "#lib/errors.js";
import type { ServiceHandlers } from "#lib/grpc-server.js";
import type { BlockService } from "./domain/block-service.js";

export interface HandlerOptions {
  /**
   * Largest data payload of one GetChunkResponse. A chunk that fits (every
   * 1 MiB chunk does) goes out as one message; a larger one is split so it
   * never exceeds the channel's message limit.
   */
  maxFrameBytes: number;
}

/** Translates BlockStorageService calls to the block domain. */
export function createHandlers(blocks: BlockService, options: HandlerOptions): ServiceHandlers<typeof BlockStorageServiceService> {
  return {
    async putChunk(requests, ctx) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done || first.value.payload?.$case !== "header") {
        throw invalidArgument("the first PutChunkRequest must set header");
      }
      const header = first.value.payload.value;
      const created = await blocks.put(ctx.principal, header, dataParts(iterator));
      ctx.log.debug({ sha256: header.sha256, size: header.size, created }, "chunk stored");
      return { created };
    },

    async *getChunk(request, ctx) {
      let data: Buffer;
      try {
        data = await blocks.get(ctx.principal, request.sha256, request.owner);
      } catch (err) {
        // Corruption needs an operator, not just a status code in the access log.
        if (err instanceof CfsError && err.kind === "data-loss") ctx.log.error({ sha256: request.sha256, err }, "stored chunk failed verification");
        throw err;
      }
      let offset = 0;
      do {
        const message: GetChunkResponse = { data: data.subarray(offset, offset + options.maxFrameBytes) };
        yield message;
        offset += options.maxFrameBytes;
      } while (offset < data.length);
    },

    async hasChunks(request, ctx) {
      return { present: await blocks.has(ctx.principal, request.sha256s, request.owner) };
    },

    async deleteChunks(request, ctx) {
      const deleted = await blocks.delete(ctx.principal, request.sha256s, request.owner);
      ctx.log.info({ requested: request.sha256s.length, deleted }, "chunks deleted");
      return { deleted };
    },
  };
}

/** The `data` payloads after the header; a second header is an error. */
async function* dataParts(iterator: AsyncIterator<PutChunkRequest>): AsyncGenerator<Buffer> {
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    const payload = next.value.payload;
    if (payload?.$case !== "data") throw invalidArgument("only the first PutChunkRequest may set header");
    yield payload.value;
  }
}
