import { createHash } from "node:crypto";

/**
 * A digest of a chunk list: SHA-256 over "<sha256>:<size>\n" for each chunk
 * in order. Two versions with the same digest are the same bytes (their
 * chunks are), so a content hash computed once for one of them holds for
 * every upload that declares the same list: an unchanged file re-uploaded
 * through a session is committed without reading a byte of it.
 */
export function chunkListDigest(chunks: Iterable<{ sha256: string; size: number }>): string {
  const hash = createHash("sha256");
  for (const chunk of chunks) hash.update(`${chunk.sha256}:${chunk.size}\n`);
  return hash.digest("hex");
}
