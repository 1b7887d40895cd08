import { createHash } from "node:crypto";

/** Lowercase hex SHA-256, Node's native implementation (SHA-NI where available). */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Re-frames a stream of arbitrary-sized buffers into fixed-size chunks (the
 * last one may be shorter; an empty stream yields nothing). Each byte is
 * copied once, into a fresh buffer per chunk, so a yielded chunk stays valid
 * while later ones are being filled.
 */
export async function* fixedSizeChunks(frames: AsyncIterable<Uint8Array>, chunkSize: number): AsyncGenerator<Buffer> {
  let current = Buffer.allocUnsafe(chunkSize);
  let filled = 0;
  for await (const frame of frames) {
    let offset = 0;
    while (offset < frame.length) {
      const n = Math.min(chunkSize - filled, frame.length - offset);
      current.set(frame.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
      if (filled === chunkSize) {
        yield current;
        current = Buffer.allocUnsafe(chunkSize);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield current.subarray(0, filled);
}

/** Splits a buffer into views of at most frameSize bytes (no copy). */
export function* frames(data: Buffer, frameSize: number): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += frameSize) {
    yield data.subarray(offset, Math.min(offset + frameSize, data.length));
  }
}
