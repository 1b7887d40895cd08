import { createCipheriv, createHash } from "node:crypto";

/**
 * The bytes `make bench` moves: an AES-128-CTR keystream, so they look
 * random (nothing compresses, no chunk repeats inside a file, as with photos,
 * video or encrypted archives), cost the bench process little CPU (AES-NI),
 * and are the same in every run. Each `variant` is an unrelated stream, so a
 * phase that must store new chunks uploads a variant no earlier phase used.
 */
export const BENCH_FRAME_BYTES = 256 * 1024;

export function* benchFrames(totalBytes: number, variant = 0, frameBytes = BENCH_FRAME_BYTES): Generator<Buffer> {
  const key = createHash("sha256").update(`cfs bench data ${variant}`).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(frameBytes);
  for (let offset = 0; offset < totalBytes; offset += frameBytes) {
    yield cipher.update(zeros.subarray(0, Math.min(frameBytes, totalBytes - offset)));
  }
}

/** The whole stream in one buffer (for measurements that must not count the generator's CPU). */
export function benchBytes(totalBytes: number, variant = 0): Buffer {
  return Buffer.concat([...benchFrames(totalBytes, variant)], totalBytes);
}

/** The frames of `frames` with `inserted` spliced in at stream offset `at` (a 1-byte edit in the middle, say). */
export function* withInsert(frames: Iterable<Buffer>, at: number, inserted: Buffer): Generator<Buffer> {
  let offset = 0;
  for (const frame of frames) {
    if (at >= offset && at < offset + frame.length) {
      yield frame.subarray(0, at - offset);
      yield inserted;
      yield frame.subarray(at - offset);
    } else {
      yield frame;
    }
    offset += frame.length;
  }
  if (at >= offset) yield inserted;
}
