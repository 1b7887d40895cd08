import type {
  BlockStorageServiceService,
  ChunkHeader,
  GetChunkResponse,
  PutChunksRequest,
  ReadChunksResponse,
} from "#gen/cfs/blockstore/v1/blockstore.js";
import { CfsError, invalidArgument } from "#lib/errors.js";
import type { RequestContext, ServiceHandlers } from "#lib/grpc-server.js";
import { afterWritten } from "#lib/response-stream.js";
import type { BlockService, IncomingChunk } from "./domain/block-service.js";

export interface HandlerOptions {
  /**
   * Largest data payload of one GetChunkResponse. A chunk that fits (every
   * 1 MiB chunk does) goes out as one message; a larger one is split so it
   * never exceeds the channel's message limit.
   */
  maxFrameBytes: number;
  /**
   * Called with a chunk read for ReadChunks once it has been written out to
   * the caller: nothing reads its bytes any more, so its memory may be used
   * again (main.ts gives it back to the pool the stores allocate from).
   */
  releaseChunk?: (data: Buffer) => void;
}

/** Translates BlockStorageService calls to the block domain. */
export function createHandlers(blocks: BlockService, options: HandlerOptions): ServiceHandlers<typeof BlockStorageServiceService> {
  return {
    async putChunks(requests, ctx) {
      const { created, stored, receipt } = await blocks.putStream(ctx.principal, incomingChunks(requests));
      ctx.log.debug({ created, stored }, "chunks stored");
      return { created, stored, receipt: receipt && { issuedAtUnixMs: receipt.issuedAtMs, mac: receipt.mac } };
    },

    async *getChunk(request, ctx) {
      const data = await reportCorruption(ctx, () => blocks.get(ctx.principal, request.sha256, request.owner));
      for (const frame of framesOf(data, options.maxFrameBytes)) {
        const message: GetChunkResponse = { data: frame };
        yield message;
      }
    },

    async *readChunks(request, ctx) {
      let index = 0;
      const chunks = blocks.readMany(ctx.principal, request.sha256s, request.owner);
      for (;;) {
        const next = await reportCorruption(ctx, () => chunks.next());
        if (next.done) return;
        const data = next.value;
        const { releaseChunk } = options;
        const frames = [...framesOf(data, options.maxFrameBytes)];
        for (const [i, frame] of frames.entries()) {
          const message: ReadChunksResponse = { index, data: frame };
          // Frames go out in order: once the last is written, so are the others.
          yield i === frames.length - 1 && releaseChunk ? afterWritten(message, () => releaseChunk(data)) : message;
        }
        index++;
      }
    },

    async hasChunks(request, ctx) {
      return { present: await blocks.has(ctx.principal, request.sha256s, request.owner) };
    },

    async deleteChunks(request, ctx) {
      const deleted = await blocks.delete(ctx.principal, request.sha256s, request.owner, request.ownerKey);
      ctx.log.info({ requested: request.sha256s.length, deleted }, "chunks deleted");
      return { deleted };
    },

    async listChunks(request, ctx) {
      const chunks = await blocks.list(ctx.principal, request.afterOwnerKey, request.afterSha256, request.pageSize);
      return { chunks: chunks.map((c) => ({ ownerKey: c.ownerKey, sha256: c.hash, size: c.size, storedAt: c.storedAt })) };
    },

    async listQuarantinedChunks(request, ctx) {
      const after = { quarantinedAt: request.afterQuarantinedAt ?? new Date(0), ownerKey: request.afterOwnerKey, hash: request.afterSha256 };
      const chunks = await blocks.listQuarantined(ctx.principal, after, request.pageSize);
      return { chunks: chunks.map((c) => ({ ownerKey: c.ownerKey, sha256: c.hash, quarantinedAt: c.quarantinedAt })) };
    },
  };
}

/** Corruption needs an operator, not just a status code in the access log. */
async function reportCorruption<T>(ctx: RequestContext, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof CfsError && err.kind === "data-loss") ctx.log.error({ err }, "stored chunk failed verification");
    throw err;
  }
}

/** The chunk in messages of at most maxFrameBytes (one, for a chunk that fits; at least one, for an empty chunk). */
function* framesOf(data: Buffer, maxFrameBytes: number): Generator<Buffer> {
  // Itself, not a slice: the codec writes the message around a read chunk's own buffer (grpc-framing.ts).
  if (data.length <= maxFrameBytes) return yield data;
  let offset = 0;
  do {
    yield data.subarray(offset, offset + maxFrameBytes);
    offset += maxFrameBytes;
  } while (offset < data.length);
}

/**
 * A PutChunks stream as chunks: each header, then its data messages up to
 * its declared size. A chunk's bytes are handed on as they arrive and it
 * ends with its last byte, so it is stored before the next header comes.
 */
async function* incomingChunks(requests: AsyncIterable<PutChunksRequest>): AsyncGenerator<IncomingChunk> {
  const iterator = requests[Symbol.asyncIterator]();
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    const payload = next.value.payload;
    if (payload?.$case !== "header") throw invalidArgument("each chunk of a PutChunks stream starts with a header");
    const header = payload.value;
    yield { header, parts: partsOf(header, iterator) };
  }
}

async function* partsOf(header: ChunkHeader, iterator: AsyncIterator<PutChunksRequest>): AsyncGenerator<Buffer> {
  // BlockService checks the sizes (and refuses a part past the declared
  // size); this only stops reading once enough bytes came.
  let remaining = header.size;
  while (remaining > 0) {
    const next = await iterator.next();
    if (next.done) return;
    const payload = next.value.payload;
    if (payload?.$case !== "data") throw invalidArgument(`chunk ${header.sha256}: ${remaining} of its bytes are missing before the next header`);
    remaining -= payload.value.length;
    yield payload.value;
  }
}
