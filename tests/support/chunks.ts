import { createHash } from "node:crypto";
import { DEFAULT_CHUNK_AVG_BYTES } from "../../services/chunker/src/config.js";
import { fastCdcCutPoints } from "#lib/fastcdc.js";

export interface ExpectedChunk {
  index: number;
  offset: number;
  size: number;
  sha256: string;
}

/**
 * The chunks the server must make of `data`: FastCDC's cut points at the
 * stack's average (the chunker's default unless a test sets
 * CFS_CHUNK_AVG_BYTES), computed by the one implementation every client uses.
 */
export function chunksOf(data: Buffer, avgBytes = DEFAULT_CHUNK_AVG_BYTES): ExpectedChunk[] {
  return [...fastCdcCutPoints(data, avgBytes)].map(({ offset, length }, index) => ({
    index,
    offset,
    size: length,
    sha256: createHash("sha256").update(data.subarray(offset, offset + length)).digest("hex"),
  }));
}
