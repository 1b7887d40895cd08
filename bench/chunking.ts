import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FastCdcCutter } from "#lib/fastcdc.js";
import { benchBytes, benchFrames, withInsert, BENCH_FRAME_BYTES } from "./data.js";

/**
 * `make bench-chunking`: what the FastCDC average costs and saves, to choose
 * CFS_CHUNK_AVG_BYTES by measurement. For averages of 1, 2 and 4 MiB, and
 * today's fixed 1 MiB chunks as the baseline, on the bench's data:
 * - speed: the boundary scan alone, SHA-256 of every chunk alone, and both in
 *   one pass as the chunker runs them (MB/s of CPU time: steadier than wall
 *   time on a shared machine), the median of CFS_BENCH_RUNS runs;
 * - chunk count and mean size;
 * - the bytes that would travel when only chunks the server lacks are sent:
 *   an unchanged re-upload, a 1-byte insert in the middle, successive
 *   versions of this repository as tarballs (real edits), and a large file
 *   edited in place again and again (a tarball of installed npm packages with
 *   scattered inserts, deletes and overwrites between versions).
 * Nothing is uploaded: this runs the chunking code alone, in this process.
 */
const MiB = 1024 * 1024;
const total = Number(process.env.CFS_BENCH_BYTES ?? 1024 * MiB);
const runs = Number(process.env.CFS_BENCH_RUNS ?? 3);
const SPEED_BYTES = Math.min(total, 256 * MiB);
/** The negotiation sends each chunk's SHA-256 and size: 32 + 8 bytes. */
const LIST_BYTES_PER_CHUNK = 40;
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

const size = (bytes: number) =>
  bytes >= MiB ? `${+(bytes / MiB).toFixed(2)} MiB` : bytes >= 1024 ? `${+(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`;

/** A chunk boundary finder: FastCdcCutter, or the fixed-size cutter of today's chunker. */
interface Cutter {
  feed(data: Uint8Array, start: number, end?: number): number;
}

class FixedSizeCutter implements Cutter {
  private length = 0;
  constructor(private readonly size: number) {}
  feed(data: Uint8Array, start: number, end = data.length): number {
    const cut = start + this.size - this.length;
    if (cut <= end) {
      this.length = 0;
      return cut;
    }
    this.length += end - start;
    return -1;
  }
}

interface Scheme {
  label: string;
  cutter: () => Cutter;
  /** false: no boundary scan to time (fixed sizes). */
  scans: boolean;
}
const SCHEMES: Scheme[] = [
  { label: "fixed 1 MiB (today)", cutter: () => new FixedSizeCutter(MiB), scans: false },
  // 64 KiB, the smallest average allowed, for contrast; the choice is between 1, 2 and 4 MiB.
  ...[64 * 1024, MiB, 2 * MiB, 4 * MiB].map((avg) => ({ label: `FastCDC avg ${size(avg)}`, cutter: () => new FastCdcCutter(avg), scans: true })),
];

interface ChunkRef {
  sha256: string;
  size: number;
}

/** Cuts and hashes a stream the way the chunker does: one pass, each chunk hashed as its pieces arrive, no copies. */
function chunkList(frames: Iterable<Uint8Array>, scheme: Scheme): ChunkRef[] {
  const cutter = scheme.cutter();
  const chunks: ChunkRef[] = [];
  let hash = createHash("sha256");
  let size = 0;
  for (const frame of frames) {
    let start = 0;
    for (let cut; (cut = cutter.feed(frame, start)) !== -1; start = cut) {
      hash.update(frame.subarray(start, cut));
      chunks.push({ sha256: hash.digest("hex"), size: size + cut - start });
      hash = createHash("sha256");
      size = 0;
    }
    hash.update(frame.subarray(start));
    size += frame.length - start;
  }
  if (size > 0) chunks.push({ sha256: hash.digest("hex"), size });
  return chunks;
}

/** Content bytes an upload of `chunks` sends to a server holding `stored` (a chunk repeated inside the upload goes once); adds them to it. */
function upload(chunks: ChunkRef[], stored: Set<string>): number {
  let sent = 0;
  for (const chunk of chunks) {
    if (stored.has(chunk.sha256)) continue;
    stored.add(chunk.sha256);
    sent += chunk.size;
  }
  return sent;
}

function framesOf(data: Uint8Array, frameBytes = BENCH_FRAME_BYTES): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let offset = 0; offset < data.length; offset += frameBytes) frames.push(data.subarray(offset, offset + frameBytes));
  return frames;
}

/** CPU seconds (user + system, this process) that fn takes. */
function cpuSeconds(fn: () => void): number {
  const before = process.cpuUsage();
  fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

interface Speed {
  scan: number | undefined;
  sha: number;
  both: number;
}

function measureSpeed(frames: Uint8Array[], scheme: Scheme): Speed {
  const bytes = frames.reduce((n, f) => n + f.length, 0);
  const mbps = (seconds: number) => bytes / MiB / seconds;
  // The cut points, to hash each chunk whole in the SHA-only run.
  const whole = Buffer.concat(frames);
  const sizes = chunkList(frames, scheme).map((c) => c.size);
  const scan: number[] = [];
  const sha: number[] = [];
  const both: number[] = [];
  for (let run = 0; run < runs; run++) {
    if (scheme.scans) {
      scan.push(
        cpuSeconds(() => {
          const cutter = scheme.cutter();
          for (const frame of frames) for (let start = 0, cut; (cut = cutter.feed(frame, start)) !== -1; start = cut);
        }),
      );
    }
    sha.push(
      cpuSeconds(() => {
        let offset = 0;
        for (const size of sizes) {
          createHash("sha256").update(whole.subarray(offset, offset + size)).digest();
          offset += size;
        }
      }),
    );
    both.push(cpuSeconds(() => chunkList(frames, scheme)));
  }
  return { scan: scheme.scans ? mbps(median(scan)) : undefined, sha: mbps(median(sha)), both: mbps(median(both)) };
}

/** Successive versions of this repository as tarballs (git archive of the last commits of HEAD, oldest first). */
function repositoryVersions(count: number): Buffer[] {
  if (!existsSync(`${REPO_ROOT}/.git`)) return [];
  const revisions = execFileSync("git", ["-C", REPO_ROOT, "rev-list", "--first-parent", `--max-count=${count}`, "HEAD"], { encoding: "utf8" })
    .trim()
    .split("\n")
    .filter(Boolean)
    .reverse();
  return revisions.map((rev) => execFileSync("git", ["-C", REPO_ROOT, "archive", "--format=tar", rev], { maxBuffer: 1024 * MiB }));
}

/** A tarball of installed npm packages (byte-for-byte the same on every run of one install). */
function packagesTarball(): Buffer {
  const packages = ["typescript", "@electric-sql", "@grpc", "vite", "pino", "jose"].filter((p) => existsSync(`${REPO_ROOT}/node_modules/${p}`));
  return execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", "-", "-C", `${REPO_ROOT}/node_modules`, ...packages], {
    maxBuffer: 1024 * MiB,
  });
}

/** Seeded xorshift32, so the edits are the same every run. */
function random(seed: number): (below: number) => number {
  let x = seed >>> 0;
  return (below) => {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    return x % below;
  };
}

/**
 * The next version of a large file edited in place: `count` scattered edits
 * — inserts, deletes and overwrites of 1 B to 4 KiB at random places — as a
 * program saving a database, mailbox or disk image makes them.
 */
function edited(data: Buffer, count: number, next: (below: number) => number): Buffer {
  const places = Array.from({ length: count }, () => next(data.length)).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let kept = 0;
  for (const place of places) {
    const at = Math.max(place, kept);
    const length = 1 + next(4096);
    const bytes = Buffer.from(Array.from({ length }, () => next(256)));
    const kind = next(3);
    pieces.push(data.subarray(kept, at));
    if (kind !== 1) pieces.push(bytes); // insert or overwrite
    kept = kind === 0 ? at : Math.min(data.length, at + length); // an overwrite or a delete drops the old bytes
  }
  pieces.push(data.subarray(kept));
  return Buffer.concat(pieces);
}

/** Bytes sent for versions 2..n when each is uploaded after the ones before it. */
function laterVersionsSent(versions: Buffer[], scheme: Scheme): { sent: number; of: number; chunks: number } {
  const stored = new Set<string>();
  let sent = 0;
  let of = 0;
  let chunks = 0;
  versions.forEach((version, index) => {
    const list = chunkList(framesOf(version), scheme);
    const bytes = upload(list, stored);
    if (index === 0) return;
    sent += bytes;
    of += version.length;
    chunks += list.length;
  });
  return { sent, of, chunks };
}

const percent = (part: number, of: number) => {
  const value = (100 * part) / of;
  return `${value.toFixed(value > 0 && value < 1 ? 2 : 1)} %`;
};
const table = (header: string[], rows: string[][]) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => "  " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("   ");
  return [line(header), ...rows.map(line)].join("\n");
};

function main(): void {
  process.stdout.write(
    `chunking: ${size(total)} of bench data (AES-CTR stream, ${size(BENCH_FRAME_BYTES)} frames); speed on ${size(SPEED_BYTES)} in memory, ` +
      `MB/s of CPU time, median of ${runs} runs\n`,
  );
  const speedFrames = framesOf(benchBytes(SPEED_BYTES, 0));
  const repo = repositoryVersions(20);
  const base = packagesTarball();
  const next = random(2463534242);
  const edits = [base];
  for (let v = 1; v < 5; v++) edits.push(edited(edits[v - 1]!, 16, next));

  const speedRows: string[][] = [];
  const dedupRows: string[][] = [];
  const workloadRows: string[][] = [];
  for (const scheme of SCHEMES) {
    const speed = measureSpeed(speedFrames, scheme);
    const original = chunkList(benchFrames(total, 0), scheme);
    const stored = new Set<string>();
    upload(original, stored);
    const unchanged = chunkList(benchFrames(total, 0), scheme);
    const insert = chunkList(withInsert(benchFrames(total, 0), total >> 1, Buffer.from([0x5a])), scheme);
    const unchangedSent = upload(unchanged, new Set(stored));
    const insertSent = upload(insert, new Set(stored));
    speedRows.push([
      scheme.label,
      String(original.length),
      size(total / original.length),
      speed.scan === undefined ? "—" : speed.scan.toFixed(0),
      speed.sha.toFixed(0),
      speed.scan === undefined ? "—" : (speed.scan / speed.sha).toFixed(2),
      speed.both.toFixed(0),
    ]);
    dedupRows.push([
      scheme.label,
      `${size(unchangedSent)} (${percent(unchangedSent, total)})`,
      `${size(insertSent)} (${percent(insertSent, total)})`,
      size(LIST_BYTES_PER_CHUNK * original.length),
    ]);
    const repoSent = laterVersionsSent(repo, scheme);
    const editSent = laterVersionsSent(edits, scheme);
    workloadRows.push([
      scheme.label,
      repo.length > 1 ? `${size(repoSent.sent)} (${percent(repoSent.sent, repoSent.of)})` : "no git history",
      `${size(editSent.sent)} (${percent(editSent.sent, editSent.of)})`,
      String(editSent.chunks),
    ]);
  }

  const repoBytes = repo.slice(1).reduce((n, v) => n + v.length, 0);
  const editBytes = edits.slice(1).reduce((n, v) => n + v.length, 0);
  process.stdout.write(
    [
      "",
      "speed and chunk size",
      table(["chunking", "chunks", "mean size", "scan MB/s", "SHA-256 MB/s", "scan ÷ SHA", "scan+SHA MB/s"], speedRows),
      "",
      `bytes that travel: chunk content the server lacks (${size(total)} stored before), and the chunk list the negotiation sends (${LIST_BYTES_PER_CHUNK} B a chunk)`,
      table(["chunking", "unchanged re-upload", "1-byte insert in the middle", "chunk list"], dedupRows),
      "",
      "bytes that travel for edit workloads (each version uploaded after the ones before it; % of the later versions' bytes)",
      `  repo: ${Math.max(0, repo.length - 1)} successive commits of this repository as tarballs after the first (${size(repoBytes)} in all);`,
      `  edits: 4 versions of a ${size(base.length)} tarball of npm packages, 16 scattered inserts/deletes/overwrites (1 B–4 KiB) each (${size(editBytes)} in all)`,
      table(["chunking", "repo versions", "edited large file", "chunks of the edited versions"], workloadRows),
      "",
    ].join("\n"),
  );
}

main();
