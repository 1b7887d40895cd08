import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  FASTCDC_MAX_AVG_BYTES,
  FASTCDC_MIN_AVG_BYTES,
  FastCdcCutter,
  fastCdcChunks,
  fastCdcCutPoints,
  fastCdcGearTable,
  fastCdcSizes,
  type FastCdcCutPoint,
} from "./fastcdc.js";
import { MAX_CHUNK_BYTES } from "./limits.js";

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The test input: Marsaglia's xorshift32 (x ^= x << 13; x ^= x >>> 17;
 * x ^= x << 5, on unsigned 32-bit words) from seed 2463534242 (his paper's
 * example), each output word written little-endian. Any language can
 * regenerate it to check another implementation against the vectors below.
 */
function xorshift32Stream(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    return x;
  };
}
function xorshift32(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const next = xorshift32Stream(seed);
  for (let i = 0; i < bytes; i += 4) {
    const x = next();
    for (let k = 0; k < 4 && i + k < bytes; k++) out[i + k] = (x >>> (8 * k)) & 0xff;
  }
  return out;
}

const SEED = 2463534242;
const INPUT = xorshift32(24 * MiB, SEED);
/** The 64 KiB vectors cover the first 2 MiB only, to keep the literal short. */
const INPUT_BYTES: Record<number, number> = { [64 * KiB]: 2 * MiB, [1 * MiB]: 24 * MiB, [2 * MiB]: 24 * MiB, [4 * MiB]: 24 * MiB };

/** [offset, length, SHA-256 of the chunk] for INPUT (its first INPUT_BYTES[avg] bytes) at each average. */
const VECTORS: Record<number, Array<[number, number, string]>> = {
    65536: [
      [0, 116585, "63bed1dcf1dbf6fb8baa3d6065eb217072d056c70591ca6c0506b981eeba20fe"],
      [116585, 153734, "00635a188f8026b570fb27b3dcfcdac74cd797483098a6ab2d7e5c2da1f1d4a1"],
      [270319, 77406, "3e009fc8dfb305005cfd2a2428e50f33eeabce925d370c1973caa280d5aedaec"],
      [347725, 96856, "c3b5c7df3ac19c40014a65c53a02a232f432e76ab87ca7e71afaf5f58fe54dfd"],
      [444581, 50755, "03c392e261f6a021a8d742fdb8543f28b056abc253842814f51fc9f542221ee5"],
      [495336, 75197, "c64e320009fbb0a2642bc0890b7142ba2e96e700fad76d5eac760b3be299359e"],
      [570533, 108993, "8640c6297f914ce3ddef67732c6d82f9057e05f7f40b33bf18bc49cad1797c48"],
      [679526, 35425, "030567cfb3a027d7ed3400a38a8848c0e7fc72bfbff8b0e41ff8e5df83a65cc1"],
      [714951, 101386, "d809baa8d72560fe40e6b176b0d0cea37e11111ec073fbf5b7401b3476b5bed5"],
      [816337, 101124, "e7c73f0f7fb9e436632af907eb49161f62f14a516c900036880f577d3d4c7ebf"],
      [917461, 71210, "c5c48bb893535da41ea0ed26d653830f6e8fc337db6b507be46e51c664434f23"],
      [988671, 103300, "e9e6f0a2e8780836d51cf1cb039004541dd28dc3c5e0d29b41b1038c16a09eb3"],
      [1091971, 84497, "544328979a8e0977c9d497c31c4e229c2486be8ca152f2ad5e9c5e84cd25d478"],
      [1176468, 71424, "54be4cbfe939da24c947069eedb27c1cde7ccbf3d327192e78effde3123f65d7"],
      [1247892, 67862, "4e625c5008cddeed7a5e304ee91aa7a80f1df1b609a4b17d1f3522fecd745868"],
      [1315754, 98707, "d17ab0fb7334eb381008c4048df84230f25d3ea86a33ff7bd48e1ac1bcb1807b"],
      [1414461, 66407, "9b2f1745287b2acacedfa51136a74afbbbbdd8915f8bb1567982c7c4ce8829ef"],
      [1480868, 82782, "b9fc419e96ab5348b8f4dd74fe84a7441c5aeaac18fd9a15277def83485f8031"],
      [1563650, 68640, "083d3b7c5ab3d07a4054ddaf59da59d2a7f5a4cfaf6875aa4085dd75e0494e8e"],
      [1632290, 77625, "c258f4dcafd72a874092b745c9d2a941c49feb121d2f84cbe9798397944a4d7d"],
      [1709915, 99544, "bc0073c2c33f1493be38082f392c0c41d58320858ced400b160502a9bab3c521"],
      [1809459, 66248, "51feebc7def1db1fa38ea47119223e2178fcebaf9d8b26aa844a90534175dbcb"],
      [1875707, 69411, "1a1b443f61efe57c7c5d2a0c6db21f0b25bd2c919fbc064706d716d26aa6c810"],
      [1945118, 78411, "8d02f9ddd5e293af86d9363dfa7ab9d0b3c72f36cce92d8732cbef7257123569"],
      [2023529, 73623, "72f2500d91b1eeca64d14e802a7c776f50922edc7db27720f649be8978799d11"],
    ],
    1048576: [
      [0, 1091971, "bb2618d0d169d89a40d6e96b77f85a0e4f277a3fad4c6524f5c65c5b68868a4a"],
      [1091971, 1210722, "f113b2ce174664df7c43511e57db0b39ef7e305a81365e76dca19a8cf6b4f43c"],
      [2302693, 1306095, "7250ec9bc31a8ef661d418640b9b3ef2b7e8534bbe4afab31350a3b3efcfd06b"],
      [3608788, 1981274, "7783482039087376392f9afee61c6e3e0609c1b9c345cb125a6281f4f902adf8"],
      [5590062, 1060711, "4076d9b16e78926de1310bade2159e17f437d196245cc8798bf6d7dc0e966a81"],
      [6650773, 1547093, "a9b0c430cfc1224438aeb3b7a4e2a2e4dbd4d521c41c7db9e8bfc1776b4cd597"],
      [8197866, 1201034, "3e5950d01006c2a5dc55dbb1ea0d332ad42eb6642f08542352081d0a7a771403"],
      [9398900, 1208958, "8a62e9b2b62341c63dbc253f3e084552c242e219f55e66fa39c68dbcf76a14f9"],
      [10607858, 1789946, "1294b9c77f382d7434eca34648555ece5487b276eea7dc55eea43374c30f7747"],
      [12397804, 1664052, "9276050a1e658f817c08dbd4dd64e98b8fc439efeb712c7b5b137b2c932644ee"],
      [14061856, 949814, "6957f372be3ce90f411028c287978001fc5b859995c337396cd16b996a218aad"],
      [15011670, 1102389, "c3b7d8e52b2629064a1a1723df82b00920c8507ae7077d626f1318fdbdb5add3"],
      [16114059, 1127808, "bc91e165d89ddc884d75f3b5c71999cceba34ef4e1094fa599526bfc2c077ff8"],
      [17241867, 2258203, "ddb5fe1a8e496d7e1630864e68f40ed9895ba3b7fe2974c9832c69e5dc64c0bf"],
      [19500070, 663228, "5c6ebf88c08a618ed1401dd0a3b6b4b188888c5c1a53cfee5b9001ae577c84af"],
      [20163298, 1693009, "8d02038060fecee5b2d4df2768be5da06d6672a177782af12a297aed827dc3b2"],
      [21856307, 1707558, "9c3ea2f562ccbf0035b9ebdd96e5553874d4a16722fcac713e4d5a51903631b4"],
      [23563865, 1049362, "8b676a191a787a7f6f729bfb9842341df98731dc044212899572dcde79ada642"],
      [24613227, 520544, "85f78ed159664d0da40f1710e0cd30e6208fb0561bdec7a99af976d64fb7f6a3"],
      [25133771, 32053, "be3b2f9f6a37fc91bc13830cd5ed44fd5cf66d1f5116cf1540f0c221028d37df"],
    ],
    2097152: [
      [0, 2117868, "469dc7a94eb29479aa2a39ca8c1932be1f8eaa8b189ae5e8bb56f79a7f0c3f10"],
      [2117868, 3472194, "237e7c4eac53514f0776f576b27d6864674737ca7e4ba37a08f9fe1b3daa5db5"],
      [5590062, 2653084, "35330e081fac36c481978075942059da6ce87959ca7c34a92c9417e4b8eded03"],
      [8243146, 2364712, "3adbb77acf0ce64f6260b3b42d45b3af44bcd4e0e0593e8ce9d52eba387ae4c9"],
      [10607858, 2102694, "75c55cbb00ea3223b02388f6c7d9bb12de40844ab5c9a8e726d589165fa6f405"],
      [12710552, 2301118, "8ab48130613c6a44a0d2fa49b0fc2ea36728253d8a7d0430c8068ed0e534242e"],
      [15011670, 2308855, "879501bb4a39cfbeb4eff73f34d003e29bf127a60a481483e360365e9e2cbad8"],
      [17320525, 2179545, "0608f22869ea938595b0df382473c8dafe51c0a654f21ad9f439ab7e6342bf8a"],
      [19500070, 663228, "5c6ebf88c08a618ed1401dd0a3b6b4b188888c5c1a53cfee5b9001ae577c84af"],
      [20163298, 2321578, "a6e5ae394e74230e7d563af926c980a5b4a17b0841bd31e56f5a16ec611d33f9"],
      [22484876, 2121512, "5d5f226a6245428463992cebd9f78fed356b3263725a48683c073e2ae05b277f"],
      [24606388, 559436, "1389742f3d6028ca800141bbb8ea64336a2e9f3fe7dc2b76359c4bad0bb49e7f"],
    ],
    4194304: [
      [0, 5590062, "87b9d32bce59bfe7f7a7fd6529a66e083f23446a4a373d5aac7e599efb81ca76"],
      [5590062, 6807742, "74bfc31ac6420003097467e269dcd6150e9d13cf781553491ab1d0ed5ccfced6"],
      [12397804, 4480346, "c1590048504fa8e6c5efb18ac243a12149a44cbcb6a789f1ba28ddbd222d8be1"],
      [16878150, 3285148, "86602adb7d36e2c7d0c7c6e76cabffd085d73b8d2d9fc9d2db07f4d674666844"],
      [20163298, 4970473, "6b23a45830ccd86430fd1558299a37471a13c9ca6d6d41b6fc65ad6d0f996f1e"],
      [25133771, 32053, "be3b2f9f6a37fc91bc13830cd5ed44fd5cf66d1f5116cf1540f0c221028d37df"],
    ],
};

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const AVERAGES = [64 * KiB, 1 * MiB, 2 * MiB, 4 * MiB];

/**
 * FastCDC straight from its definition, one byte at a time over a whole
 * buffer, sharing no code with the module: its own gear table (SHA-256 of
 * the byte), masks and loop. The optimized cutter must agree with it on
 * every input.
 */
const REFERENCE_GEAR = Array.from({ length: 256 }, (_, i) => createHash("sha256").update(Uint8Array.of(i)).digest().readInt32BE(0));
function referenceCutPoints(data: Uint8Array, avg: number): FastCdcCutPoint[] {
  const bits = Math.log2(avg);
  const topBits = (n: number) => -(2 ** (32 - n)) | 0;
  const [maskSmall, maskLarge, min, max] = [topBits(bits + 2), topBits(bits - 2), avg / 4, avg * 4];
  const cuts: FastCdcCutPoint[] = [];
  for (let offset = 0; offset < data.length; ) {
    const available = Math.min(max, data.length - offset);
    let length = available;
    let hash = 0;
    for (let position = min; position < available; position++) {
      hash = (hash * 2 + REFERENCE_GEAR[data[offset + position]!]!) | 0;
      if ((hash & (position + 1 < avg ? maskSmall : maskLarge)) === 0) {
        length = position + 1;
        break;
      }
    }
    cuts.push({ offset, length });
    offset += length;
  }
  return cuts;
}

/** Cut points found by feeding `data` to one cutter in frames of the sizes `nextFrame` picks. */
function cutPointsInFrames(data: Uint8Array, avg: number, nextFrame: () => number): FastCdcCutPoint[] {
  const cutter = new FastCdcCutter(avg);
  const cuts: FastCdcCutPoint[] = [];
  let chunkStart = 0;
  for (let frameStart = 0; frameStart < data.length; ) {
    const frame = data.subarray(frameStart, Math.min(data.length, frameStart + nextFrame()));
    let start = 0;
    for (let cut; (cut = cutter.feed(frame, start)) !== -1; start = cut) {
      cuts.push({ offset: chunkStart, length: frameStart + cut - chunkStart });
      chunkStart = frameStart + cut;
    }
    frameStart += frame.length;
  }
  if (cutter.pendingBytes > 0) cuts.push({ offset: chunkStart, length: cutter.pendingBytes });
  expect(chunkStart + cutter.pendingBytes).toBe(data.length);
  return cuts;
}

/** What fastCdcChunks yields for `data` sent as the given frames: (offset, length, hash) and the bytes. */
async function chunksOf(frames: Iterable<Uint8Array>, avg: number, allocate?: (size: number) => Uint8Array) {
  const chunks: Array<{ offset: number; data: Uint8Array }> = [];
  for await (const chunk of fastCdcChunks(frames, { avgBytes: avg, allocate })) chunks.push(chunk);
  return chunks;
}

function* framesOf(data: Uint8Array, nextFrame: () => number): Generator<Uint8Array> {
  for (let offset = 0; offset < data.length; ) {
    const size = nextFrame();
    yield data.subarray(offset, Math.min(data.length, offset + size));
    offset += size;
  }
}

/** Frame sizes from a seeded generator (the same sizes every run), 0 to 300 KiB, empty frames included. */
function randomFrameSizes(seed: number, largest = 300 * KiB): () => number {
  const next = xorshift32Stream(seed);
  return () => {
    const x = next();
    return x % 7 === 0 ? 0 : x % largest;
  };
}

const asTriples = (data: Uint8Array, cuts: FastCdcCutPoint[]) =>
  cuts.map(({ offset, length }): [number, number, string] => [offset, length, sha256(data.subarray(offset, offset + length))]);

describe("the gear table", () => {
  it("is SHA-256 of each byte value, first four bytes big-endian", () => {
    expect(Array.from(fastCdcGearTable())).toEqual(REFERENCE_GEAR);
    // `printf '\x00' | sha256sum` starts 6e340b9c: the first entry.
    expect(fastCdcGearTable()[0]! >>> 0).toBe(0x6e340b9c);
  });
});

describe("fastCdcSizes", () => {
  it.each(AVERAGES)("min = avg / 4 and max = avg × 4 for %i", (avg) => {
    expect(fastCdcSizes(avg)).toEqual({ minBytes: avg / 4, avgBytes: avg, maxBytes: avg * 4 });
  });

  it("allows every power of two from 64 KiB to 4 MiB, whose largest chunk is the largest any service accepts", () => {
    expect(FASTCDC_MIN_AVG_BYTES).toBe(64 * KiB);
    expect(FASTCDC_MAX_AVG_BYTES).toBe(4 * MiB);
    expect(fastCdcSizes(FASTCDC_MAX_AVG_BYTES).maxBytes).toBe(MAX_CHUNK_BYTES);
    for (let avg = 64 * KiB; avg <= 4 * MiB; avg *= 2) expect(() => fastCdcSizes(avg)).not.toThrow();
  });

  it.each([0, -65536, 32 * KiB, 8 * MiB, 96 * KiB, 65536.5, Number.NaN, Number.POSITIVE_INFINITY])("refuses %d with a message naming the allowed values", (avg) => {
    expect(() => fastCdcSizes(avg)).toThrow(RangeError);
    expect(() => new FastCdcCutter(avg)).toThrow(/power of two from 65536 \(64 KiB\) to 4194304 \(4 MiB\) bytes/);
  });
});

describe("fixed vectors", () => {
  it("the input is the documented xorshift32 stream", () => {
    // 723471715 (0x2b1f4d63) and 2497366906 are the first outputs from this seed in Marsaglia's paper.
    expect(Array.from(INPUT.subarray(0, 8))).toEqual([0x63, 0x4d, 0x1f, 0x2b, 0x7a, 0xcb, 0xda, 0x94]);
    expect(sha256(INPUT)).toBe("6a6f067104406c39b827af6cf65a0d3e2612bbab0cde2b0ea648b8beabfeea54");
  });

  it.each(AVERAGES)("average %i: the boundaries and chunk hashes are the recorded ones, and the reference agrees", (avg) => {
    const input = INPUT.subarray(0, INPUT_BYTES[avg]);
    const cuts = [...fastCdcCutPoints(input, avg)];
    expect(asTriples(input, cuts)).toEqual(VECTORS[avg]);
    expect(referenceCutPoints(input, avg)).toEqual(cuts);
  });

  it.each(AVERAGES)("average %i: every chunk but the last is min..max long, and the chunks cover the input", (avg) => {
    const { minBytes, maxBytes } = fastCdcSizes(avg);
    const vector = VECTORS[avg]!;
    let next = 0;
    vector.forEach(([offset, length], index) => {
      expect(offset).toBe(next);
      if (index < vector.length - 1) expect(length).toBeGreaterThanOrEqual(minBytes);
      expect(length).toBeLessThanOrEqual(maxBytes);
      next += length;
    });
    expect(next).toBe(INPUT_BYTES[avg]);
  });
});

describe("the same boundaries whatever the framing", () => {
  it("1-byte frames", () => {
    const input = INPUT.subarray(0, INPUT_BYTES[64 * KiB]);
    expect(cutPointsInFrames(input, 64 * KiB, () => 1)).toEqual([...fastCdcCutPoints(input, 64 * KiB)]);
    // A whole 4 MiB-average chunk (5.3 MiB) arriving byte by byte too.
    const prefix = INPUT.subarray(0, 6 * MiB);
    expect(cutPointsInFrames(prefix, 4 * MiB, () => 1)).toEqual([...fastCdcCutPoints(prefix, 4 * MiB)]);
  });

  it.each(AVERAGES)("average %i in 7-byte, 64 KiB and random frames (the cutter), and through fastCdcChunks", async (avg) => {
    const input = INPUT.subarray(0, INPUT_BYTES[avg]);
    const expected = VECTORS[avg]!;
    for (const nextFrame of [() => 7, () => 64 * KiB, randomFrameSizes(avg)]) {
      expect(asTriples(input, cutPointsInFrames(input, avg, nextFrame))).toEqual(expected);
    }
    for (const nextFrame of [() => 64 * KiB, randomFrameSizes(avg + 1), () => input.length]) {
      const chunks = await chunksOf(framesOf(input, nextFrame), avg);
      expect(chunks.map((c): [number, number, string] => [c.offset, c.data.length, sha256(c.data)])).toEqual(expected);
    }
  });

  it("7-byte frames through fastCdcChunks", async () => {
    const input = INPUT.subarray(0, INPUT_BYTES[64 * KiB]);
    const chunks = await chunksOf(framesOf(input, () => 7), 64 * KiB);
    expect(chunks.map((c): [number, number, string] => [c.offset, c.data.length, sha256(c.data)])).toEqual(VECTORS[64 * KiB]);
  });

  it("frames at every alignment of their buffer, and Node Buffers from the pool", () => {
    const input = INPUT.subarray(0, 1 * MiB);
    const expected = [...fastCdcCutPoints(input, 64 * KiB)];
    for (let shift = 0; shift < 8; shift++) {
      const shifted = new Uint8Array(input.length + shift);
      shifted.set(input, shift);
      expect(cutPointsInFrames(shifted.subarray(shift), 64 * KiB, () => 4093)).toEqual(expected);
    }
    const pooled = Buffer.concat([Buffer.from("x"), Buffer.from(input)]).subarray(1);
    expect(cutPointsInFrames(pooled, 64 * KiB, () => 100 * KiB)).toEqual(expected);
  });
});

describe("agrees with the byte-at-a-time reference", () => {
  it.each([
    ["random data", (n: number) => xorshift32(n, 7)],
    ["zeros", (n: number) => new Uint8Array(n)],
    ["a short repeating pattern", (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31) % 7)],
    ["text-like data", (n: number) => Uint8Array.from({ length: n }, (_, i) => 97 + ((i * i) % 26))],
  ])("on %s of assorted lengths, whole and in random frames", (name, make) => {
    for (const avg of name === "random data" ? [64 * KiB, 1 * MiB] : [64 * KiB]) {
      for (const length of [0, 1, avg / 4 - 1, avg / 4, avg / 4 + 1, avg - 1, avg, 4 * avg - 1, 4 * avg, 4 * avg + 1, 9 * avg + 12345]) {
        const data = make(length);
        const expected = referenceCutPoints(data, avg);
        expect([...fastCdcCutPoints(data, avg)]).toEqual(expected);
        expect(cutPointsInFrames(data, avg, randomFrameSizes(length + 1, avg))).toEqual(expected);
      }
    }
  });
});

describe("edge cases", () => {
  it("an empty input has no chunks", async () => {
    expect([...fastCdcCutPoints(new Uint8Array(0), 64 * KiB)]).toEqual([]);
    expect(await chunksOf([], 64 * KiB)).toEqual([]);
    expect(await chunksOf([new Uint8Array(0), new Uint8Array(0)], 64 * KiB)).toEqual([]);
    const cutter = new FastCdcCutter(64 * KiB);
    expect(cutter.feed(new Uint8Array(0))).toBe(-1);
    expect(cutter.pendingBytes).toBe(0);
  });

  it("an input no longer than the minimum is one chunk", async () => {
    for (const length of [1, 1000, 16 * KiB]) {
      const data = INPUT.subarray(0, length);
      expect([...fastCdcCutPoints(data, 64 * KiB)]).toEqual([{ offset: 0, length }]);
      const chunks = await chunksOf(framesOf(data, () => 333), 64 * KiB);
      expect(chunks).toHaveLength(1);
      expect(Buffer.from(chunks[0]!.data).equals(Buffer.from(data))).toBe(true);
    }
  });

  it("data without cut points is cut at the maximum", () => {
    // A run of one byte value: the hash settles on one value that does not match.
    for (const avg of AVERAGES) {
      const cuts = [...fastCdcCutPoints(new Uint8Array(9 * avg + 5), avg)];
      expect(cuts.map((c) => c.length)).toEqual([4 * avg, 4 * avg, avg + 5]);
    }
  });

  it("content that matches every four bytes is still cut no sooner than the minimum", () => {
    // Hashed from 0, the bytes 0, 4, 11, 151 give 0x1292: the top 18 bits (the 64 KiB strict mask) are clear,
    // and not before the fourth byte. Repeated, the pattern would cut every 4 bytes without cut-point skipping.
    const pattern = [0, 4, 11, 151];
    const hashes = pattern.reduce<number[]>((acc, byte) => [...acc, ((acc.at(-1) ?? 0) * 2 + REFERENCE_GEAR[byte]!) | 0], []);
    expect(hashes.map((h) => (h & (-(2 ** 14) | 0)) === 0)).toEqual([false, false, false, true]);
    const data = Uint8Array.from({ length: 1 * MiB }, (_, i) => pattern[i % 4]!);
    const lengths = [...fastCdcCutPoints(data, 64 * KiB)].map((c) => c.length);
    const min = fastCdcSizes(64 * KiB).minBytes;
    expect(lengths.slice(0, -1).every((length) => length === min + 4)).toBe(true);
    expect(lengths.length).toBe(Math.ceil(data.length / (min + 4)));
  });

  it.each([64 * KiB - 1, 64 * KiB])("the strict mask holds up to a length of avg - 1, the loose one from avg on (a hash made to match only the loose one at length %i)", (length) => {
    const avg = 64 * KiB;
    const bits = Math.log2(avg);
    const [strict, loose] = [-(2 ** (32 - bits - 2)) | 0, -(2 ** (32 - bits + 2)) | 0];
    const data = xorshift32(2 * avg, 99);
    // No cut in these random bytes before `length - 2` (checked), and the hash there, rolled from minBytes:
    expect(referenceCutPoints(data.subarray(0, length - 2), avg)).toHaveLength(1);
    let hash = 0;
    for (let p = avg / 4; p < length - 2; p++) hash = (hash * 2 + REFERENCE_GEAR[data[p]!]!) | 0;
    // Two more bytes: no match at length - 1, and at `length` the loose mask clear but not the strict one.
    let found = false;
    search: for (let x = 0; x < 256; x++) {
      const h1 = (hash * 2 + REFERENCE_GEAR[x]!) | 0;
      if ((h1 & strict) === 0) continue;
      for (let y = 0; y < 256; y++) {
        const h2 = (h1 * 2 + REFERENCE_GEAR[y]!) | 0;
        if ((h2 & loose) === 0 && (h2 & strict) !== 0) {
          data[length - 2] = x;
          data[length - 1] = y;
          found = true;
          break search;
        }
      }
    }
    expect(found).toBe(true);
    const firstChunk = [...fastCdcCutPoints(data, avg)][0]!.length;
    expect(firstChunk === length).toBe(length === avg);
    expect(referenceCutPoints(data, avg)[0]!.length).toBe(firstChunk);
  });

  it("a feed outside the buffer is refused", () => {
    const cutter = new FastCdcCutter(64 * KiB);
    expect(() => cutter.feed(new Uint8Array(10), 5, 11)).toThrow(RangeError);
    expect(() => cutter.feed(new Uint8Array(10), 6, 5)).toThrow(RangeError);
    expect(() => cutter.feed(new Uint8Array(10), -1)).toThrow(RangeError);
  });

  it("reset starts a new stream", () => {
    const cutter = new FastCdcCutter(64 * KiB);
    cutter.feed(INPUT, 0, 100 * KiB - 1);
    cutter.reset();
    expect(cutter.pendingBytes).toBe(0);
    expect(cutter.feed(INPUT)).toBe(VECTORS[64 * KiB]![0]![1]);
  });
});

describe("fastCdcChunks", () => {
  it("yields each chunk in a buffer of its own, exactly its length, from the allocator given", async () => {
    const input = INPUT.subarray(0, 1 * MiB);
    const frames = [...framesOf(input, () => 48 * KiB)];
    const sizes: number[] = [];
    const chunks = await chunksOf(frames, 64 * KiB, (size) => {
      sizes.push(size);
      return Buffer.allocUnsafe(size);
    });
    expect(chunks.every((c) => Buffer.isBuffer(c.data) && c.data.byteLength === c.data.buffer.byteLength - c.data.byteOffset)).toBe(true);
    expect(sizes).toEqual(chunks.map((c) => c.data.length));
    expect(chunks.some((c) => frames.some((f) => f.buffer === c.data.buffer))).toBe(false);
    expect(Buffer.concat(chunks.map((c) => c.data)).equals(Buffer.from(input))).toBe(true);
  });

  it("reads an async stream of frames", async () => {
    const input = INPUT.subarray(0, 1 * MiB);
    async function* slowly() {
      for (const frame of framesOf(input, () => 100 * KiB)) yield frame;
    }
    const chunks: Array<{ offset: number; data: Uint8Array }> = [];
    for await (const chunk of fastCdcChunks(slowly(), { avgBytes: 64 * KiB })) chunks.push(chunk);
    expect(chunks.map((c) => ({ offset: c.offset, length: c.data.length }))).toEqual([...fastCdcCutPoints(input, 64 * KiB)]);
  });

  it("reports each frame once, in order, only when its bytes are all in chunks yielded", async () => {
    const input = INPUT.subarray(0, 4 * MiB);
    // Frames of their own (random sizes, empty ones included), so overwriting one leaves the input as it was.
    const frames = [...framesOf(input, randomFrameSizes(11))].map((f) => Uint8Array.from(f));
    const reported: Uint8Array[] = [];
    const chunks: Array<{ offset: number; data: Uint8Array }> = [];
    let yieldedBytes = 0;
    let streamBytes = 0;
    /** Where each frame ends in the stream. */
    const endOf = new Map<Uint8Array, number>(frames.map((f) => [f, (streamBytes += f.length)]));
    const copied = (frame: Uint8Array) => {
      reported.push(frame);
      frame.fill(0xa5); // its memory used for something else at once
    };
    for await (const chunk of fastCdcChunks(frames, { avgBytes: 64 * KiB, copied })) {
      chunks.push({ offset: chunk.offset, data: Uint8Array.from(chunk.data) });
      yieldedBytes += chunk.data.length;
      // Every frame reported so far ends inside what has been yielded.
      for (const frame of reported) expect(endOf.get(frame)).toBeLessThanOrEqual(yieldedBytes);
    }
    expect(reported.length).toBe(frames.length);
    expect(reported.every((f, i) => f === frames[i])).toBe(true);
    expect(chunks.map((c) => ({ offset: c.offset, length: c.data.length }))).toEqual([...fastCdcCutPoints(input, 64 * KiB)]);
    expect(Buffer.concat(chunks.map((c) => c.data)).equals(Buffer.from(input))).toBe(true);
  });

  it("reports no frame of a stream left early whose bytes were not all yielded, wherever it is left", async () => {
    const input = INPUT.subarray(0, 1 * MiB);
    const frames = [...framesOf(input, () => 100 * KiB)];
    const streamEnd = (f: Uint8Array) => f.byteOffset - input.byteOffset + f.length;
    const total = [...fastCdcCutPoints(input, 64 * KiB)].length;
    for (let taken = 1; taken < total; taken++) {
      const reported: Uint8Array[] = [];
      let yielded = 0;
      let chunks = 0;
      for await (const chunk of fastCdcChunks(frames, { avgBytes: 64 * KiB, copied: (f) => reported.push(f) })) {
        yielded += chunk.data.length;
        if (++chunks === taken) break;
      }
      expect(reported.every((f) => streamEnd(f) <= yielded)).toBe(true);
      expect(reported.length).toBeLessThan(frames.length);
    }
  });
});

describe("a 1-byte insert in the middle", () => {
  it.each(AVERAGES)("average %i: changes at most two chunks of the recorded ones; the others move by one byte", (avg) => {
    const input = INPUT.subarray(0, INPUT_BYTES[avg]);
    const middle = input.length >> 1;
    const edited = new Uint8Array(input.length + 1);
    edited.set(input.subarray(0, middle));
    edited[middle] = 0x5a;
    edited.set(input.subarray(middle), middle + 1);

    const original = VECTORS[avg]!;
    const after = asTriples(edited, [...fastCdcCutPoints(edited, avg)]);
    const before = original.filter(([offset, length]) => offset + length <= middle);
    const behind = original.filter(([offset]) => offset > middle).map(([offset, length, hash]): [number, number, string] => [offset + 1, length, hash]);
    // The chunks before the edit are unchanged, the ones after it only shifted, and what lies between is new.
    expect(after.slice(0, before.length)).toEqual(before);
    const keptBehind = behind.filter((chunk) => after.some((a) => a[0] === chunk[0] && a[2] === chunk[2]));
    expect(after.slice(after.length - keptBehind.length)).toEqual(keptBehind);
    const changed = after.length - before.length - keptBehind.length;
    expect(changed).toBeGreaterThanOrEqual(1);
    expect(changed).toBeLessThanOrEqual(2);
    expect(original.length - before.length - keptBehind.length).toBeLessThanOrEqual(2);
  });
});
