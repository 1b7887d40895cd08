import { createHash } from "node:crypto";
import { fastCdcChunks } from "#lib/fastcdc.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { Logger } from "#lib/logger.js";
import { cancelled, invalidArgument } from "#lib/errors.js";
import type { ChunkWriter, ChunkWriting } from "../ports/chunk-storage.js";
import type { FileCommits } from "../ports/file-catalogue.js";
import { sha256Hex } from "./chunking.js";
import { checkUploadHeader } from "./upload-checks.js";
import type { ChunkRef, StoredFile, UploadHeader } from "./types.js";

export interface UploadLimits {
  /** FastCDC's average chunk size (CFS_CHUNK_AVG_BYTES). */
  chunkAvgBytes: number;
  /**
   * Chunks cut ahead of the ones being stored, asked about together (one
   * HasChunks per batch, so at most MAX_HASHES_PER_CALL). Memory is about
   * this many chunks.
   */
  chunksPerBatch: number;
  maxFileBytes: number;
}

/**
 * A batch of chunks at most this large goes to block storage without asking
 * first which it lacks: for a small file the question costs more (a round
 * trip) than sending the bytes, and block storage never stores a chunk twice.
 */
const ASK_FIRST_BYTES = 256 * 1024;

interface CutChunk extends ChunkRef {
  data: Buffer;
}

/**
 * A streamed upload (UploadFile, UploadFileContent): cuts the content with
 * FastCDC — the same cut points every client computes, so content uploaded
 * this way deduplicates against content uploaded through sessions — hashes
 * each chunk and the whole file in one pass over each chunk, asks block
 * storage which chunks of a batch it lacks and streams those on one PutChunks
 * stream, then commits. While the store is busy no more is read from the
 * client, so a slow store slows the client instead of filling memory.
 * Nothing becomes visible unless every chunk is stored and the declared size
 * and hash match.
 */
export class Uploader {
  constructor(
    private readonly blocks: ChunkWriting,
    private readonly catalogue: FileCommits,
    private readonly limits: UploadLimits,
  ) {}

  /**
   * Uploads and commits. If anything fails after chunks were sent, they are
   * handed to the collector, which deletes those no file uses.
   */
  async upload(header: UploadHeader, data: AsyncIterable<Uint8Array>, as: CallIdentity, log: Logger): Promise<StoredFile> {
    checkUploadHeader(header, this.limits.maxFileBytes);
    const sent = new Set<string>();
    let writer: ChunkWriter | undefined;
    try {
      const chunks: ChunkRef[] = [];
      const fileHash = createHash("sha256");
      let batch: CutChunk[] = [];
      let batchBytes = 0;
      const flush = async () => {
        writer ??= this.blocks.openWriter(as);
        await this.storeBatch(batch, batchBytes, writer, sent, as);
        batch = [];
        batchBytes = 0;
      };
      for await (const { offset, data: bytes } of fastCdcChunks(this.limited(data, header), {
        avgBytes: this.limits.chunkAvgBytes,
        allocate: (size) => this.blocks.chunkBuffer(size),
      })) {
        const chunk = bytes as Buffer;
        fileHash.update(chunk);
        const ref: ChunkRef = { index: chunks.length, sha256: sha256Hex(chunk), size: chunk.length, offset };
        chunks.push(ref);
        batch.push({ ...ref, data: chunk });
        batchBytes += chunk.length;
        if (batch.length >= this.limits.chunksPerBatch) await flush();
      }
      if (batch.length > 0) await flush();
      const size = chunks.reduce((total, c) => total + c.size, 0);
      const sha256 = fileHash.digest("hex");
      if (header.size !== undefined && header.size !== size) throw invalidArgument(`declared size ${header.size} but received ${size} bytes`);
      if (header.sha256 !== undefined && header.sha256 !== sha256) {
        throw invalidArgument(`declared sha256 ${header.sha256} but the content hashes to ${sha256}`);
      }
      if (writer) await writer.finish();
      // A client that cancels may half-close its stream first (Node's HTTP/2
      // client ends the stream before it resets it), so a complete-looking
      // stream is committed only if the call is still wanted.
      if (as.signal?.aborted) throw cancelled("the upload was cancelled");
      return await this.catalogue.commit(
        { name: header.name, contentType: header.contentType, size, sha256, chunks, idempotencyKey: header.idempotencyKey },
        as,
      );
    } catch (err) {
      writer?.abort();
      if (sent.size > 0) {
        // Also when the call was cancelled: the release is clean-up, not work for the caller.
        await this.catalogue.releaseChunks([...sent], { ...as, signal: undefined }).catch((releaseErr: unknown) => {
          log.warn({ err: releaseErr, chunks: sent.size }, "could not release the chunks of a failed upload");
        });
      }
      throw err;
    }
  }

  /** Sends the chunks of the batch block storage lacks (each distinct hash once) and records them in `sent`. */
  private async storeBatch(batch: readonly CutChunk[], batchBytes: number, writer: ChunkWriter, sent: Set<string>, as: CallIdentity): Promise<void> {
    const distinct = [...new Map(batch.map((c) => [c.sha256, c])).values()].filter((c) => !sent.has(c.sha256));
    const missing = batchBytes <= ASK_FIRST_BYTES ? undefined : await this.blocks.missing(distinct.map((c) => c.sha256), as);
    for (const chunk of distinct) {
      if (missing && !missing.has(chunk.sha256)) continue;
      await writer.begin(chunk.sha256, chunk.size);
      await writer.data(chunk.data);
      sent.add(chunk.sha256);
    }
  }

  /** Passes the data through, failing as soon as it exceeds what is allowed. */
  private async *limited(data: AsyncIterable<Uint8Array>, header: UploadHeader): AsyncGenerator<Uint8Array> {
    const limit = header.size ?? this.limits.maxFileBytes;
    let received = 0;
    for await (const frame of data) {
      received += frame.length;
      if (received > limit) {
        throw header.size !== undefined
          ? invalidArgument(`declared size ${header.size} but more bytes were sent`)
          : invalidArgument(`file exceeds the limit of ${this.limits.maxFileBytes} bytes`);
      }
      yield frame;
    }
  }
}
