import { createHash } from "node:crypto";
import { fastCdcChunks } from "#lib/fastcdc.js";
import type { ReceiptWithChunks } from "#lib/chunk-receipts.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { Logger } from "#lib/logger.js";
import { CfsError, cancelled, inContext, invalidArgument } from "#lib/errors.js";
import type { ChunkWriter, ChunkWriting } from "../ports/chunk-storage.js";
import type { CommitRequest, FileCommits } from "../ports/file-catalogue.js";
import { sha256Hex } from "./chunking.js";
import { BatchHeaders, checkUploadHeader } from "./upload-checks.js";
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

/** One file of an UploadFiles batch: its header, then its bytes (read to their end before the next file is asked for). */
export interface BatchFile {
  header: UploadHeader;
  data: AsyncIterable<Uint8Array>;
}

/** The one PutChunks stream of a call (opened with its first batch of chunks) and every chunk sent on it, in order, with its size. */
interface ChunkStream {
  writer: ChunkWriter | undefined;
  readonly sent: Map<string, number>;
}

/**
 * A streamed upload (UploadFile, UploadFileContent, UploadFiles): cuts the
 * content with FastCDC — the same cut points every client computes, so
 * content uploaded this way deduplicates against content uploaded through
 * sessions — hashes each chunk and the whole file in one pass over each
 * chunk, asks block storage which chunks of a batch it lacks and streams
 * those on one PutChunks stream, then commits. While the store is busy no
 * more is read from the client, so a slow store slows the client instead of
 * filling memory. Nothing becomes visible unless every chunk is stored and
 * the declared size and hash match.
 */
export class Uploader {
  constructor(
    private readonly blocks: ChunkWriting,
    private readonly catalogue: FileCommits,
    private readonly limits: UploadLimits,
    /**
     * Told of each frame of an upload's data once its bytes are all in chunks
     * cut: the upload never reads it again, so its memory may be used again
     * (main.ts gives received messages' pooled memory back).
     */
    private readonly frameCopied: (frame: Uint8Array) => void = () => undefined,
  ) {}

  /**
   * Uploads and commits. If anything fails after chunks were sent, they are
   * handed to the collector, which deletes those no file uses.
   */
  async upload(header: UploadHeader, data: AsyncIterable<Uint8Array>, as: CallIdentity, log: Logger): Promise<StoredFile> {
    checkUploadHeader(header, this.limits.maxFileBytes);
    return this.sendThenCommit(
      as,
      log,
      (stream) => this.receive(header, data, stream, as),
      (request, receipt) => this.catalogue.commit(receipt ? { ...request, chunkReceipts: [receipt] } : request, as),
    );
  }

  /**
   * Uploads the files one after the other on one PutChunks stream (a chunk
   * two of them share is sent once) and commits them together, all or none
   * (BatchHeaders says what a batch may hold). A refused file fails the batch
   * with INVALID_ARGUMENT naming it as files[i]. Answers in the files' order.
   */
  async uploadBatch(files: AsyncIterable<BatchFile>, as: CallIdentity, log: Logger): Promise<StoredFile[]> {
    return this.sendThenCommit(
      as,
      log,
      async (stream) => {
        const rules = new BatchHeaders(this.limits.maxFileBytes);
        const requests: CommitRequest[] = [];
        for await (const { header, data } of files) {
          const index = requests.length;
          try {
            rules.admit(header);
            requests.push(await this.receive(header, data, stream, as));
          } catch (err) {
            throw naming(index, err);
          }
        }
        return requests;
      },
      async (requests, receipt) => {
        if (requests.length === 0) return [];
        // One receipt for the stream; given with the first file, it counts for the whole batch.
        const [first, ...rest] = requests;
        return this.catalogue.commitMany(receipt ? [{ ...first!, chunkReceipts: [receipt] }, ...rest] : requests, as);
      },
    );
  }

  /**
   * `send` streams the chunks, then (once block storage has every one of
   * them) `commit` makes them visible, with block storage's receipt for what
   * the stream carried when it gave one. On any failure the stream is
   * aborted and what was sent is handed to the collector.
   */
  private async sendThenCommit<Received, Committed>(
    as: CallIdentity,
    log: Logger,
    send: (stream: ChunkStream) => Promise<Received>,
    commit: (received: Received, receipt: ReceiptWithChunks | undefined) => Promise<Committed>,
  ): Promise<Committed> {
    const stream: ChunkStream = { writer: undefined, sent: new Map() };
    try {
      const received = await send(stream);
      const receipt = stream.writer && (await stream.writer.finish()).receipt;
      // A client that cancels may half-close its stream first (Node's HTTP/2
      // client ends the stream before it resets it), so a complete-looking
      // stream is committed only if the call is still wanted.
      if (as.signal?.aborted) throw cancelled("the upload was cancelled");
      return await commit(received, receipt && { ...receipt, chunks: [...stream.sent].map(([sha256, size]) => ({ sha256, size })) });
    } catch (err) {
      stream.writer?.abort();
      const { sent } = stream;
      if (sent.size > 0) {
        // Also when the call was cancelled: the release is clean-up, not work for the caller.
        await this.catalogue.releaseChunks([...sent.keys()], { ...as, signal: undefined }).catch((releaseErr: unknown) => {
          log.warn({ err: releaseErr, chunks: sent.size }, "could not release the chunks of a failed upload");
        });
      }
      throw err;
    }
  }

  /**
   * Cuts, hashes and stores one file's content on `stream`, and checks it
   * against the header: the file's commit request, chunk references only (the
   * bytes are gone once stored, so memory stays bounded however many files).
   */
  private async receive(header: UploadHeader, data: AsyncIterable<Uint8Array>, stream: ChunkStream, as: CallIdentity): Promise<CommitRequest> {
    const chunks: ChunkRef[] = [];
    const fileHash = createHash("sha256");
    let batch: CutChunk[] = [];
    let batchBytes = 0;
    const flush = async () => {
      await this.storeBatch(batch, batchBytes, stream, as);
      batch = [];
      batchBytes = 0;
    };
    for await (const { offset, data: bytes } of fastCdcChunks(this.limited(data, header), {
      avgBytes: this.limits.chunkAvgBytes,
      allocate: (size) => this.blocks.chunkBuffer(size),
      copied: this.frameCopied,
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
    return { name: header.name, contentType: header.contentType, size, sha256, chunks, idempotencyKey: header.idempotencyKey };
  }

  /** Sends the chunks of the batch block storage lacks (each distinct hash once per stream) and records them in `stream.sent`. */
  private async storeBatch(batch: readonly CutChunk[], batchBytes: number, stream: ChunkStream, as: CallIdentity): Promise<void> {
    const writer = (stream.writer ??= this.blocks.openWriter(as));
    const { sent } = stream;
    const distinct = [...new Map(batch.map((c) => [c.sha256, c])).values()].filter((c) => !sent.has(c.sha256));
    // Every chunk went earlier on this stream (files of a batch that share content): nothing to ask about.
    if (distinct.length === 0) return;
    const missing = batchBytes <= ASK_FIRST_BYTES ? undefined : await this.blocks.missing(distinct.map((c) => c.sha256), as);
    for (const chunk of distinct) {
      if (missing && !missing.has(chunk.sha256)) continue;
      await writer.begin(chunk.sha256, chunk.size);
      await writer.data(chunk.data);
      sent.set(chunk.sha256, chunk.size);
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

/**
 * A file's refusal as the batch's, led by the file's place (files[i]). Only
 * refusals: a store that is down or a cancelled call is not about the file.
 */
function naming(index: number, err: unknown): unknown {
  return err instanceof CfsError && err.kind === "invalid-argument" ? inContext(err, `files[${index}]`) : err;
}
