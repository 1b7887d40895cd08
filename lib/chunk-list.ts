import { invalidArgument } from "./errors.js";
import { MAX_CHUNK_BYTES, MAX_HASHES_PER_CALL, SHA256_HEX } from "./limits.js";

/**
 * One page of a declared chunk list (StartUpload, DeclareChunks, and the
 * metadata service's session calls behind them): at most
 * MAX_HASHES_PER_CALL entries, each a well-formed hash and a size from 1 byte
 * to MAX_CHUNK_BYTES. INVALID_ARGUMENT naming the first bad entry otherwise.
 */
export function checkChunkPage(page: ReadonlyArray<{ sha256: string; size: number }>): void {
  if (page.length > MAX_HASHES_PER_CALL) throw invalidArgument(`at most ${MAX_HASHES_PER_CALL} chunks per page, got ${page.length}`);
  page.forEach((chunk, i) => {
    if (!SHA256_HEX.test(chunk.sha256)) throw invalidArgument(`chunks[${i}].sha256 must be 64 lowercase hex characters`);
    if (!Number.isInteger(chunk.size) || chunk.size < 1 || chunk.size > MAX_CHUNK_BYTES) {
      throw invalidArgument(`chunks[${i}].size must be between 1 and ${MAX_CHUNK_BYTES} bytes`);
    }
  });
}
