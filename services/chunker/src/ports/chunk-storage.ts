import type { ChunkReceipt } from "#lib/chunk-receipts.js";
import type { CallIdentity } from "#lib/grpc-client.js";

/**
 * One stream of chunks into block storage (PutChunks): the chunks of an
 * upload travel on it one after the other instead of one call each.
 */
export interface ChunkWriter {
  /**
   * Starts the next chunk; its `size` bytes follow with data(). Resolves when
   * the stream can take more (a slow store slows the caller, not memory).
   */
  begin(sha256: string, size: number): Promise<void>;
  data(part: Buffer): Promise<void>;
  /**
   * Ends the stream and resolves once block storage verified and stored
   * every chunk, with its receipt for them when it gives one.
   */
  finish(): Promise<{ created: number; stored: number; receipt?: ChunkReceipt | undefined }>;
  /** Cancels the stream; chunks sent whole may be stored already. */
  abort(): void;
}

/** Block storage as the uploads need it; every call acts for `as`. */
export interface ChunkWriting {
  /** The subset of `hashes` (at most MAX_HASHES_PER_CALL) not stored yet for the caller. */
  missing(hashes: readonly string[], as: CallIdentity): Promise<Set<string>>;
  openWriter(as: CallIdentity): ChunkWriter;
  /**
   * A buffer for `size` bytes of a chunk about to be cut: one that data()
   * sends without copying it again (as plain a buffer as any other).
   */
  chunkBuffer(size: number): Buffer;
}

/** Block storage as downloads and content hashing need it. */
export interface ChunkReading {
  /**
   * The chunks' bytes in order (at most MAX_HASHES_PER_CALL hashes), each
   * verified by block storage; the caller checks them again. NOT_FOUND for a
   * chunk that is not stored, DATA_LOSS for one that no longer matches.
   */
  read(chunks: ReadonlyArray<{ sha256: string; size: number }>, as: CallIdentity): AsyncIterable<Buffer>;
}
