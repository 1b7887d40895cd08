import { BatchRules } from "#lib/batch-rules.js";
import type { ReceiptWithChunks } from "#lib/chunk-receipts.js";
import { inContext, invalidArgument } from "#lib/errors.js";
import { normalizeName } from "#lib/file-names.js";
import type { ChunkRecord, NewFileVersion } from "./types.js";
import { IDEMPOTENCY_KEY, MAX_CHUNK_BYTES, MAX_CONTENT_TYPE_LENGTH, MAX_FILES_PER_BATCH, SHA256_HEX } from "#lib/limits.js";
import { chunkListDigest } from "./chunk-list-digest.js";

/** CommitFileVersion as the chunker sends it. */
export interface CommitRequest {
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  chunks: readonly ChunkRecord[];
  idempotencyKey?: string | undefined;
  /** Block storage's receipts for chunks of this commit (in a batch: of any of its files). */
  chunkReceipts?: readonly ReceiptWithChunks[] | undefined;
}

/**
 * Checks that a commit describes one complete, well-formed file: chunks
 * 0..n-1 laid end to end, each 1 byte to MAX_CHUNK_BYTES, adding up to `size` (so an
 * empty file has no chunks), and well-formed hashes. Whether the chunks
 * exist is block storage's answer, asked separately.
 */
export function validateCommit(owner: string, request: CommitRequest): NewFileVersion {
  const name = normalizeName(request.name);
  if (request.contentType.length > MAX_CONTENT_TYPE_LENGTH) {
    throw invalidArgument(`content_type is longer than ${MAX_CONTENT_TYPE_LENGTH} characters`);
  }
  if (/\p{Cc}/u.test(request.contentType)) throw invalidArgument("content_type must not contain control characters");
  if (!Number.isSafeInteger(request.size) || request.size < 0) throw invalidArgument("size must be a non-negative integer");
  if (!SHA256_HEX.test(request.sha256)) throw invalidArgument("sha256 must be 64 lowercase hex characters");
  if (request.idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(request.idempotencyKey)) {
    throw invalidArgument("idempotency_key must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'");
  }

  const sizeByHash = new Map<string, number>();
  let offset = 0;
  request.chunks.forEach((chunk, i) => {
    const at = `chunks[${i}]`;
    if (chunk.index !== i) throw invalidArgument(`${at}.index is ${chunk.index}; chunks must be listed in order with indexes 0..n-1`);
    if (chunk.offset !== offset) throw invalidArgument(`${at}.offset is ${chunk.offset}, expected ${offset} (chunks must be contiguous)`);
    if (!Number.isInteger(chunk.size) || chunk.size < 1 || chunk.size > MAX_CHUNK_BYTES) {
      throw invalidArgument(`${at}.size must be between 1 and ${MAX_CHUNK_BYTES} bytes`);
    }
    if (!SHA256_HEX.test(chunk.sha256)) throw invalidArgument(`${at}.sha256 must be 64 lowercase hex characters`);
    // Equal bytes hash alike: one hash with two sizes cannot be real content.
    const seen = sizeByHash.get(chunk.sha256);
    if (seen !== undefined && seen !== chunk.size) throw invalidArgument(`${at} repeats an earlier chunk's sha256 with a different size`);
    sizeByHash.set(chunk.sha256, chunk.size);
    offset += chunk.size;
  });
  if (offset !== request.size) throw invalidArgument(`the chunk sizes add up to ${offset} bytes but size is ${request.size}`);

  const chunks = request.chunks.map(({ index, sha256, size, offset }) => ({ index, sha256, size, offset }));
  return {
    owner,
    name,
    contentType: request.contentType,
    size: request.size,
    sha256: request.sha256,
    chunks,
    chunkListDigest: chunkListDigest(chunks),
    idempotencyKey: request.idempotencyKey,
  };
}

/**
 * Checks a batch (CommitFileVersions): each file as validateCommit does,
 * its errors led by `files[i]`, the rules of any batch (lib/batch-rules.ts:
 * MAX_FILES_PER_BATCH files, MAX_BATCH_BYTES, no name or idempotency key
 * twice — the chunker checked them too), and no hash with two sizes across
 * its files.
 */
export function validateBatch(owner: string, requests: readonly CommitRequest[]): NewFileVersion[] {
  // Before validating any file: a request of 10^6 entries is refused at once.
  if (requests.length > MAX_FILES_PER_BATCH) throw invalidArgument(`a batch holds at most ${MAX_FILES_PER_BATCH} files, not ${requests.length}`);
  const rules = new BatchRules();
  const sizeByHash = new Map<string, number>();
  return requests.map((request, i) => {
    try {
      const version = validateCommit(owner, request);
      rules.admit(version);
      for (const chunk of version.chunks) {
        const seen = sizeByHash.get(chunk.sha256);
        if (seen !== undefined && seen !== chunk.size) throw invalidArgument(`chunk ${chunk.sha256} has another size in an earlier file`);
        sizeByHash.set(chunk.sha256, chunk.size);
      }
      return version;
    } catch (err) {
      throw inContext(err, `files[${i}]`);
    }
  });
}
