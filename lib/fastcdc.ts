/**
 * FastCDC content-defined chunking (Xia et al., "FastCDC: a Fast and
 * Efficient Content-Defined Chunking Approach for Data Deduplication",
 * USENIX ATC 2016): a gear rolling hash, cut-point skipping below the minimum
 * chunk size, and normalized chunking at level 2 (a mask with two more bits
 * than the average before the average, two fewer after it), with
 * min = avg / 4 and max = avg × 4.
 *
 * One implementation for every place that cuts content — the chunker service,
 * the CLI, `cfs sync` and the web page (bundled by Vite) — so the same bytes
 * give the same chunks everywhere. It therefore imports nothing from Node and
 * hashes nothing itself: callers hash chunks with `node:crypto` or WebCrypto.
 * The fixed vectors in fastcdc.spec.ts pin the boundaries; a change that moves
 * them breaks deduplication against every chunk already stored.
 *
 * Where a cut falls: the hash is reset to 0 when a chunk reaches `minBytes`
 * (the bytes before that are not hashed at all), then updated byte by byte;
 * the chunk ends after the first byte whose hash has all the mask's bits
 * clear, or after the byte that makes it `maxBytes` long. (The paper's
 * pseudo-code ends the chunk before that byte instead; including it is
 * equivalent for deduplication and makes "the cut index" simply the end of
 * the chunk.) The last chunk of a stream is whatever remains, 1..max bytes.
 *
 * Two ways in:
 * - `FastCdcCutter`, a small stateful scanner for callers that move the bytes
 *   themselves: `feed(data, start, end)` returns where the current chunk ends
 *   inside data[start, end), or -1 when it continues into the next frame. It
 *   keeps only the hash and the chunk's length between calls, never a byte,
 *   so frames of any size can be fed without copying (a browser reading a
 *   File by slices, `cfs sync` hashing a local copy as it reads it).
 * - `fastCdcChunks(frames, options)`, an async generator over a stream of
 *   frames that yields each chunk in its own buffer of exactly its length,
 *   every byte copied once (the chunker service's upload path).
 * `fastCdcCutPoints(data, avgBytes)` cuts one buffer held whole (tests, bench).
 */
import { MAX_CHUNK_BYTES } from "./limits.js";

/** The smallest allowed average chunk size. */
export const FASTCDC_MIN_AVG_BYTES = 64 * 1024;
/** The largest allowed average chunk size: its maximum chunk (avg × 4) is the largest chunk any service accepts. */
export const FASTCDC_MAX_AVG_BYTES = MAX_CHUNK_BYTES / 4;

/**
 * The gear table: entry i is the first four bytes (big-endian) of SHA-256 of
 * the single byte i — `printf '\\x00' | sha256sum` starts with 6e340b9c, the
 * first entry. fastcdc.spec.ts regenerates it. Any 256 random-looking words
 * would do; a formula anyone can recompute proves nothing is hidden in them.
 *
 * 32-bit entries because JavaScript's bitwise operators work on 32-bit
 * integers: the hash stays a small integer in a register, where a 64-bit one
 * would need BigInt (tens of times slower) or two halves. With a shift of one
 * bit per byte, bit k of the hash depends on the last k + 1 bytes; the masks
 * below take the top bits, so a cut depends on a window of up to 32 bytes and
 * the widest mask (24 bits, for a 4 MiB average) still fits with room to spare.
 * The paper's 64-bit hash spreads its mask bits to reach a 48-byte window; 32
 * bytes is as wide as Rabin-style chunkers commonly use.
 */
const GEAR = Int32Array.from([
  0x6e340b9c, 0x4bf5122f, 0xdbc1b4c9, 0x084fed08, 0xe52d9c50, 0xe77b9a9a, 0x67586e98, 0xca358758,
  0xbeead779, 0x2b4c342f, 0x01ba4719, 0xe7cf46a0, 0xef6cbd21, 0x9d1e0e2d, 0x4d7b3ef7, 0xdc0e9c36,
  0xc555eab4, 0x4a64a107, 0xf299791c, 0xab897fbd, 0x83891d7f, 0x2f0fd1e8, 0x7cb7c454, 0x8f11b05d,
  0x452ba1dd, 0x68aa2e2e, 0x58f7b078, 0x77adfc95, 0xbd4fc42a, 0x1f18d650, 0x9652595f, 0xffe679bb,
  0x36a9e7f1, 0xbb7208bc, 0x8a331fdd, 0x334359b9, 0x09fc9608, 0xbbf3f11c, 0x951dcee3, 0x265fda17,
  0x32ebb1ab, 0xba5ec51d, 0x684888c0, 0xa318c242, 0xd03502c4, 0x3973e022, 0xcdb4ee2a, 0x8a5edab2,
  0x5feceb66, 0x6b86b273, 0xd4735e3a, 0x4e074085, 0x4b227777, 0xef2d127d, 0xe7f6c011, 0x7902699b,
  0x2c624232, 0x19581e27, 0xe7ac0786, 0x41b805ea, 0xdabd3aff, 0x380918b9, 0x62b67e1f, 0x8a8de823,
  0xc3641f85, 0x559aead0, 0xdf7e70e5, 0x6b23c0d5, 0x3f39d5c3, 0xa9f51566, 0xf67ab10a, 0x333e0a1e,
  0x44bd7ae6, 0xa83dd0cc, 0x6da43b94, 0x86be9a55, 0x72dfcfb0, 0x08f27188, 0x8ce86a6a, 0xc4694f2e,
  0x5c62e091, 0x4ae81572, 0x8c257489, 0x8de0b3c4, 0xe632b709, 0xa25513c7, 0xde5a6f78, 0xfcb5f40d,
  0x4b68ab38, 0x18f5384d, 0xbbeebd87, 0x245843ab, 0xa9253dc8, 0xcfae0d42, 0x74cd9ef9, 0xd2e2adf7,
  0x8d33f520, 0xca978112, 0x3e23e816, 0x2e7d2c03, 0x18ac3e73, 0x3f79bb7b, 0x252f10c8, 0xcd0aa985,
  0xaaa94026, 0xde7d1b72, 0x189f4003, 0x8254c329, 0xacac86c0, 0x62c66a7a, 0x1b16b1df, 0x65c74c15,
  0x148de9c5, 0x8e35c2cd, 0x454349e4, 0x043a7187, 0xe3b98a4d, 0x0bfe935e, 0x4c94485e, 0x50e721e4,
  0x2d711642, 0xa1fce436, 0x594e519a, 0x021fb596, 0xcbe5cfdf, 0xd10b36aa, 0x7ace431c, 0x620bfdaa,
  0x76be8b52, 0x591b7cc9, 0xa5ab782c, 0x5ee0dd4d, 0xaaa8e61e, 0xc00e7f88, 0x3cbdaf66, 0x4bfa260a,
  0x4f362f90, 0xe9b0c031, 0x2d319369, 0x3ebe1b59, 0x9defb0a9, 0x075198bf, 0x949f94d8, 0x5e37305c,
  0x9e076cea, 0x7da59d0d, 0x95606213, 0xd16bd22f, 0x67c872d4, 0x5bad0d11, 0x84873854, 0x2a0ab732,
  0x79bec7ff, 0xfd9528b9, 0x0605d153, 0x8d36bbb3, 0x6e3faf1e, 0x9d277175, 0x35af2d15, 0x1f184f10,
  0xc19a797f, 0x8a8950f7, 0x0a43b22d, 0x6d90fbac, 0x88aa3e3b, 0x6922e93e, 0xfe1dcd3a, 0x2dbf9365,
  0x74e1ade3, 0x9e8e8c37, 0xbceef655, 0x087d80f7, 0xee6bb86b, 0x22adaf05, 0x19753a9b, 0x5a6e7a47,
  0xf4f97c88, 0x149488d8, 0x9be3799f, 0x65f15821, 0x27952171, 0x892f60b3, 0xca41841c, 0x4d6a8e90,
  0xd3bb0d59, 0x04d6c0c9, 0x281c9399, 0xcbecda1c, 0x26e5bfe4, 0x68325720, 0x47850848, 0xb12dc850,
  0xe4ff5e7d, 0xd1bbd73b, 0xc557e713, 0xae3f4619, 0xd1211001, 0x5a0ec31d, 0x49994461, 0x3340883a,
  0x7c5bd2d1, 0x4fb733be, 0x13598656, 0x383e5d7d, 0x1dd83126, 0x9a7b7b3a, 0xc337ded6, 0x7a4a4b50,
  0xd4b0c0a4, 0xb5c9a5f4, 0x85f97e04, 0x28969cdf, 0x528a84ce, 0xcdce9374, 0x0a2c6ea0, 0x414a21e5,
  0xaf193a8c, 0x19152ddf, 0x5d5c7d20, 0xb7d25296, 0xfb95aa98, 0x2795044c, 0x7941cb07, 0x2ea970ff,
  0x7d8c5da7, 0xf031efa5, 0x30a5bfa5, 0x457e4854, 0x5e1effe9, 0xab61ba11, 0x0a3aaee7, 0xd0752b60,
  0xe6f20750, 0xde2e331d, 0x3ad4e44a, 0xf8d20e59, 0x45f83d17, 0xf3df1f9c, 0x94455e3e, 0x4d4d75d7,
  0xfde50285, 0xd4f09e5c, 0x966c7c47, 0x782e0202, 0x2017ff34, 0x27abdedd, 0xb0b2988b, 0x50868f20,
  0xe596a8e5, 0xd5202253, 0xaa7225e7, 0x04b8d34e, 0x98722e2e, 0x3e151409, 0xaa687b58, 0xa8100ae6,
]);

/** A copy of the gear table, for tests and for anyone writing a compatible chunker elsewhere. */
export function fastCdcGearTable(): Int32Array {
  return GEAR.slice();
}

export interface FastCdcSizes {
  minBytes: number;
  avgBytes: number;
  maxBytes: number;
}

/**
 * The chunk sizes for an average, after checking it: a power of two from
 * 64 KiB to 4 MiB. Throws a RangeError that names the allowed values (the
 * chunker reports it at start-up for a bad CFS_CHUNK_AVG_BYTES).
 */
export function fastCdcSizes(avgBytes: number): FastCdcSizes {
  if (!Number.isInteger(avgBytes) || avgBytes < FASTCDC_MIN_AVG_BYTES || avgBytes > FASTCDC_MAX_AVG_BYTES || (avgBytes & (avgBytes - 1)) !== 0) {
    throw new RangeError(
      `FastCDC average chunk size must be a power of two from ${FASTCDC_MIN_AVG_BYTES} (64 KiB) to ${FASTCDC_MAX_AVG_BYTES} (4 MiB) bytes, got ${avgBytes}`,
    );
  }
  return { minBytes: avgBytes / 4, avgBytes, maxBytes: avgBytes * 4 };
}

/** Byte order of the words the scan reads; every platform cfs runs on is little-endian, others take the byte loop. */
const WORDS_ARE_LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
/** Below this many bytes a range is scanned byte by byte: a word view is not worth its allocation. */
const WORD_SCAN_MIN_BYTES = 64;

/** The top `bits` bits of a 32-bit word, as a signed 32-bit integer (what the hash is compared with). */
function topBitsMask(bits: number): number {
  return (-1 << (32 - bits)) | 0;
}

/**
 * Finds chunk boundaries in a stream fed frame by frame. Not thread-safe and
 * not shareable between streams: one cutter per stream (they are cheap).
 *
 * ```ts
 * const cutter = new FastCdcCutter(1024 * 1024);
 * for await (const frame of frames) {
 *   let start = 0;
 *   for (let cut; (cut = cutter.feed(frame, start)) !== -1; start = cut) {
 *     // frame[start, cut) ends the current chunk; the next chunk starts at cut
 *   }
 *   // frame[start, frame.length) belongs to the current, unfinished chunk
 * }
 * // at the end of the stream, cutter.pendingBytes > 0 means a last chunk of that length
 * ```
 */
export class FastCdcCutter implements FastCdcSizes {
  readonly minBytes: number;
  readonly avgBytes: number;
  readonly maxBytes: number;
  /** Before the average: two more bits than log2(avg), so cuts are rarer. */
  private readonly maskSmall: number;
  /** From the average on: two fewer bits, so cuts come sooner. */
  private readonly maskLarge: number;
  /** Bytes of the current chunk already seen in earlier feeds. */
  private length = 0;
  /** The gear hash over the current chunk's bytes from minBytes on. */
  private hash = 0;

  constructor(avgBytes: number) {
    const sizes = fastCdcSizes(avgBytes);
    this.minBytes = sizes.minBytes;
    this.avgBytes = sizes.avgBytes;
    this.maxBytes = sizes.maxBytes;
    const bits = Math.log2(avgBytes);
    this.maskSmall = topBitsMask(bits + 2);
    this.maskLarge = topBitsMask(bits - 2);
  }

  /** Bytes of the current chunk fed so far and not yet cut: the length of the last chunk once the stream ends. */
  get pendingBytes(): number {
    return this.length;
  }

  /** Forgets the current chunk, to cut another stream from its beginning. */
  reset(): void {
    this.length = 0;
    this.hash = 0;
  }

  /**
   * Scans data[start, end) as the continuation of the current chunk. Returns
   * the index just after the chunk's last byte (start < cut ≤ end), after
   * which the cutter is at the start of the next chunk — feed the rest,
   * data[cut, end), next; or -1 when the whole range belongs to the current
   * chunk and it goes on. Never reads outside [start, end) and keeps no
   * reference to data.
   */
  feed(data: Uint8Array, start = 0, end = data.length): number {
    if (!(start >= 0 && start <= end && end <= data.length)) {
      throw new RangeError(`FastCdcCutter.feed: bad range [${start}, ${end}) of ${data.length} bytes`);
    }
    // `first` is where the current chunk started, relative to data (negative
    // when it started in an earlier frame): data[j] is its byte j - first.
    const first = start - this.length;
    let i = start;
    // Cut-point skipping: no chunk ends before minBytes, so those bytes are not even hashed.
    const hashFrom = first + this.minBytes;
    if (i < hashFrom) {
      if (end <= hashFrom) {
        this.length += end - start;
        return -1;
      }
      i = hashFrom;
      this.hash = 0;
    }
    // Bytes that leave the chunk shorter than the average: the strict mask.
    const averageAt = first + this.avgBytes - 1;
    if (i < averageAt) {
      const cut = this.scan(data, i, Math.min(end, averageAt), this.maskSmall);
      if (cut !== -1) return this.cutAt(cut);
      i = Math.min(end, averageAt);
    }
    // From the average up to one byte short of the maximum: the loose mask.
    const maximumAt = first + this.maxBytes - 1;
    if (i < maximumAt) {
      const cut = this.scan(data, i, Math.min(end, maximumAt), this.maskLarge);
      if (cut !== -1) return this.cutAt(cut);
      i = Math.min(end, maximumAt);
    }
    // The byte that makes the chunk maxBytes long ends it whatever its hash.
    if (i < end) return this.cutAt(i + 1);
    this.length = end - first;
    return -1;
  }

  /**
   * Rolls the hash over data[from, to): the index after the first byte whose
   * hash has no bit of `mask` set, or -1 with the hash kept for the next
   * range. This is the hot loop of every upload. The aligned middle of a long
   * range is read sixteen bytes at a time as four little-endian 32-bit words:
   * one bounds check, loop test and counter per sixteen bytes instead of per
   * byte, and each hash tested as soon as it is made, which keeps few values
   * live. Measured on Node 20: about 2.5× the plain byte loop and faster than
   * 8-byte variants, ~1.4× Node's SHA-256 over the same bytes (`make
   * bench-chunking` prints both). A block that
   * holds a cut point is left (hash as before the block) to the byte loop,
   * which finds the exact byte; the unaligned head and the tail go byte by
   * byte too. The words only change how bytes are fetched, never which cut
   * is found (fastcdc.spec.ts checks it against a byte-at-a-time reference).
   */
  private scan(data: Uint8Array, from: number, to: number, mask: number): number {
    const gear = GEAR;
    let hash = this.hash;
    let i = from;
    if (WORDS_ARE_LITTLE_ENDIAN && to - i >= WORD_SCAN_MIN_BYTES) {
      for (const aligned = i + ((4 - ((data.byteOffset + i) & 3)) & 3); i < aligned; i++) {
        hash = ((hash << 1) + gear[data[i]!]!) | 0;
        if ((hash & mask) === 0) return i + 1;
      }
      const words = new Int32Array(data.buffer, data.byteOffset + i, ((to - i) >> 4) << 2);
      const count = words.length;
      let w = 0;
      for (; w < count; w += 4) {
        const a = words[w]!;
        const b = words[w + 1]!;
        const c = words[w + 2]!;
        const d = words[w + 3]!;
        const h1 = ((hash << 1) + gear[a & 0xff]!) | 0;
        if ((h1 & mask) === 0) break;
        const h2 = ((h1 << 1) + gear[(a >>> 8) & 0xff]!) | 0;
        if ((h2 & mask) === 0) break;
        const h3 = ((h2 << 1) + gear[(a >>> 16) & 0xff]!) | 0;
        if ((h3 & mask) === 0) break;
        const h4 = ((h3 << 1) + gear[a >>> 24]!) | 0;
        if ((h4 & mask) === 0) break;
        const h5 = ((h4 << 1) + gear[b & 0xff]!) | 0;
        if ((h5 & mask) === 0) break;
        const h6 = ((h5 << 1) + gear[(b >>> 8) & 0xff]!) | 0;
        if ((h6 & mask) === 0) break;
        const h7 = ((h6 << 1) + gear[(b >>> 16) & 0xff]!) | 0;
        if ((h7 & mask) === 0) break;
        const h8 = ((h7 << 1) + gear[b >>> 24]!) | 0;
        if ((h8 & mask) === 0) break;
        const h9 = ((h8 << 1) + gear[c & 0xff]!) | 0;
        if ((h9 & mask) === 0) break;
        const h10 = ((h9 << 1) + gear[(c >>> 8) & 0xff]!) | 0;
        if ((h10 & mask) === 0) break;
        const h11 = ((h10 << 1) + gear[(c >>> 16) & 0xff]!) | 0;
        if ((h11 & mask) === 0) break;
        const h12 = ((h11 << 1) + gear[c >>> 24]!) | 0;
        if ((h12 & mask) === 0) break;
        const h13 = ((h12 << 1) + gear[d & 0xff]!) | 0;
        if ((h13 & mask) === 0) break;
        const h14 = ((h13 << 1) + gear[(d >>> 8) & 0xff]!) | 0;
        if ((h14 & mask) === 0) break;
        const h15 = ((h14 << 1) + gear[(d >>> 16) & 0xff]!) | 0;
        if ((h15 & mask) === 0) break;
        const h16 = ((h15 << 1) + gear[d >>> 24]!) | 0;
        if ((h16 & mask) === 0) break;
        hash = h16;
      }
      i += w * 4;
    }
    for (; i < to; i++) {
      hash = ((hash << 1) + gear[data[i]!]!) | 0;
      if ((hash & mask) === 0) return i + 1;
    }
    this.hash = hash;
    return -1;
  }

  private cutAt(cut: number): number {
    this.length = 0;
    this.hash = 0;
    return cut;
  }
}

/** A chunk of a stream: where it starts in the stream and its bytes. */
export interface FastCdcChunk {
  offset: number;
  data: Uint8Array;
}

export interface FastCdcChunksOptions {
  avgBytes: number;
  /**
   * Allocates a chunk's buffer (default `new Uint8Array(size)`). Node callers
   * pass `Buffer.allocUnsafe`: every byte is overwritten, so zero-filling is
   * wasted work, and the chunk comes back as a Buffer.
   */
  allocate?: (size: number) => Uint8Array;
  /**
   * Called once for each frame as soon as every byte of it is in a chunk
   * already yielded: the generator never reads the frame again, so its
   * memory may be used for something else (a pooled receive buffer given
   * back). Frames of a stream that ends early are not reported.
   */
  copied?: (frame: Uint8Array) => void;
}

/**
 * Cuts a stream of frames (any sizes, empty ones included) into chunks, each
 * yielded in a buffer of its own of exactly its length, every byte copied
 * once. Until a chunk is complete the generator keeps references to the
 * frames (or the parts of them) it spans rather than copying them into a
 * max-sized buffer, so memory is one chunk plus one frame, and the frames
 * must not be changed after they are handed over (Node streams, gRPC and
 * File.arrayBuffer() all give fresh buffers). An empty stream yields nothing.
 */
export async function* fastCdcChunks(frames: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: FastCdcChunksOptions): AsyncGenerator<FastCdcChunk> {
  const cutter = new FastCdcCutter(options.avgBytes);
  const allocate = options.allocate ?? ((size: number) => new Uint8Array(size));
  /** The current chunk's bytes so far: views of the frames it spans. */
  let parts: Uint8Array[] = [];
  let partsBytes = 0;
  let offset = 0;
  /** Frames the cutter is done with whose last part is still in `parts`. */
  let spent: Uint8Array[] = [];
  const copied = options.copied ?? (() => undefined);
  const assemble = (): FastCdcChunk => {
    const data = allocate(partsBytes);
    let at = 0;
    for (const part of parts) {
      data.set(part, at);
      at += part.length;
    }
    const chunk = { offset, data };
    offset += partsBytes;
    parts = [];
    partsBytes = 0;
    for (const frame of spent) copied(frame);
    spent = [];
    return chunk;
  };
  const keep = (part: Uint8Array) => {
    parts.push(part);
    partsBytes += part.length;
  };
  for await (const frame of frames) {
    let start = 0;
    for (let cut; (cut = cutter.feed(frame, start)) !== -1; start = cut) {
      keep(frame.subarray(start, cut));
      yield assemble();
    }
    if (start < frame.length) keep(frame.subarray(start));
    // Reported in stream order: an empty frame waits behind the bytes before it.
    if (partsBytes > 0) spent.push(frame);
    else copied(frame);
  }
  if (partsBytes > 0) yield assemble();
}

/** A chunk's place in a stream. */
export interface FastCdcCutPoint {
  offset: number;
  length: number;
}

/** The chunks of one buffer held whole, as (offset, length); the same as fastCdcChunks over any framing of it. */
export function* fastCdcCutPoints(data: Uint8Array, avgBytes: number): Generator<FastCdcCutPoint> {
  const cutter = new FastCdcCutter(avgBytes);
  let start = 0;
  for (let cut; (cut = cutter.feed(data, start)) !== -1; start = cut) yield { offset: start, length: cut - start };
  if (start < data.length) yield { offset: start, length: data.length - start };
}
