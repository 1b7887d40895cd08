import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { request, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Client as MinioClient } from "minio";
import { startStack, SERVICE_NAMES, type RunningStack } from "../dev/stack.js";
import { passedThrough } from "../dev/supervisor.js";
import * as grpc from "@grpc/grpc-js";
import { auth } from "../tests/support/clients.js";
import { ChunkerClient } from "#lib/bulk-codecs.js";
import { BufferPool, IDLE_CHUNK_BUFFER_BYTES } from "#lib/buffer-pool.js";
import { withHeadroom } from "#lib/grpc-framing.js";
import { channelOptions } from "#lib/grpc-client.js";
import { startMinio } from "../tests/support/minio.js";
import { createTestDatabase } from "../tests/support/postgres.js";
import type { ChunkerServiceClient, DownloadFileResponse } from "#gen/cfs/chunker/v1/chunker.js";
import { benchBytes, benchFrames } from "./data.js";
import { cpuSeconds, peakRssBytes, QuietWatch, resetPeakRss, type CpuReader } from "./process-stats.js";
import { meterPostgres, type PostgresMeter } from "./postgres-meter.js";
import { startTusd } from "./tusd.js";
import { deltaPhases } from "./delta-phases.js";
import { BATCH_FILES } from "../cli/src/sync/batches.js";
import { printProfileSummary } from "./profile-summary.js";

/**
 * `make bench`: the same bytes (CFS_BENCH_BYTES, default 1 GiB) through
 * cfs and through what it is measured against, in one run, on one MinIO:
 * Node straight into MinIO (minio-js) and tusd's S3 store. Then many small
 * files. For every phase the median of CFS_BENCH_RUNS runs (default 3):
 * MB/s, the ratio to tusd and to direct MinIO, the CPU-seconds each process
 * (and the PostgreSQL server, as its whole process tree) spent per GiB moved
 * (from /proc, until the stack is quiet again, so background work the phase
 * set off counts), and each process's peak RSS.
 *
 * CFS_BENCH_BLOCKS=disk keeps cfs's chunks on local disk instead of MinIO.
 * CFS_BENCH_PROFILE=1 runs every service under `node --cpu-prof` and prints
 * where their time went (bench/profile-summary.ts), and the folder.
 * CFS_BENCH_ONLY=<regular expression> runs only the phases whose names match
 * (the tusd and MinIO rows are then compared with only when they match too);
 * CFS_BENCH_NODE_OPTIONS replaces the services' NODE_OPTIONS (to weigh a V8
 * flag, say); CFS_BENCH_NODE_ARGS adds arguments to every service's node
 * command line (flags NODE_OPTIONS refuses, like --trace-gc, whose lines go to
 * the logs); CFS_BENCH_KEEP_LOGS=1 keeps the services' logs (otherwise kept
 * only when something failed); CFS_BENCH_LOG_LEVEL sets their level (warn by
 * default; info writes every call's access line, with its duration).
 *
 * A phase is an entry in `phases` below: a name, optionally the direction
 * whose tusd and MinIO rows it is compared with, and a `run` that moves
 * bytes and says how many (and how many went over the wire, when fewer).
 */
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const total = Number(process.env.CFS_BENCH_BYTES ?? GiB);
const runs = Number(process.env.CFS_BENCH_RUNS ?? 3);
const diskBlocks = process.env.CFS_BENCH_BLOCKS === "disk";
const profiling = process.env.CFS_BENCH_PROFILE === "1";
const only = process.env.CFS_BENCH_ONLY ? new RegExp(process.env.CFS_BENCH_ONLY, "i") : undefined;
const nodeOptions = process.env.CFS_BENCH_NODE_OPTIONS;
const serviceLogLevel = process.env.CFS_BENCH_LOG_LEVEL ?? "warn";
const extraNodeArgs = (process.env.CFS_BENCH_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "");
const SMALL_FILES = 2000;
const SMALL_FILE_BYTES = 4096;
const SMALL_FILES_AT_ONCE = 16;
const IDLE_UPLOADS = 15;
/**
 * The batched small-files phases: files per UploadFiles call and calls at a
 * time. 16 per call one at a time keeps as many files in flight as the phase
 * of one UploadFile each; 100 per call one at a time is how `cfs sync` sends a
 * folder's small files (cli/src/sync/batches.ts, BATCH_FILES).
 */
const SMALL_FILE_BATCHES = [
  { perCall: SMALL_FILES_AT_ONCE, calls: 1 },
  { perCall: BATCH_FILES, calls: 1 },
] as const;

/** What each phase is charged for: a process each, but postgres, the PostgreSQL server's whole process tree (bench/postgres-meter.ts). */
const METERS = ["chunker", "block-storage", "metadata", "sync", "minio", "postgres", "tusd", "bench"] as const;
type Meter = (typeof METERS)[number];
/** The meters that are one process (and have one peak RSS: the server's processes share its buffers). */
type ProcessMeter = Exclude<Meter, "postgres">;
const PROCESSES = METERS.filter((m): m is ProcessMeter => m !== "postgres");

/** How bench reads its meters. */
interface Metering {
  /** Every meter that can be read (postgres is missing when its server cannot be found here). */
  cpu: Map<Meter, CpuReader>;
  pids: Record<ProcessMeter, number>;
  quiet: QuietWatch<Meter>;
  postgres: PostgresMeter | { unmetered: string };
}

export interface PhaseRun {
  /** Bytes of content the run moved: MB/s and CPU per GiB count these. */
  bytes: number;
  /** Bytes that crossed the wire between client and server, when not `bytes` (a delta upload sends fewer). */
  wireBytes?: number;
  /** One latency per operation, for phases of many small operations (printed as percentiles, not MB/s). */
  latenciesMs?: number[];
  /** Operations that failed (counted and printed; a bulk phase fails as a whole instead). */
  errors?: number;
}

export interface Phase {
  name: string;
  /** A phase this one is compared with: the report says how many times faster it ran. */
  speedupOver?: string;
  /** Compared with the tusd and direct MinIO rows of this direction. */
  direction?: "upload" | "download";
  /** The row that is the tusd or direct MinIO figure of its direction. */
  baseline?: "tusd" | "minio";
  /** Many small operations, reported as operations/s and latency percentiles instead of MB/s. */
  operations?: true;
  /** At least this many runs whatever CFS_BENCH_RUNS says: for a phase whose run is one sample. */
  minRuns?: number;
  /** Untimed set-up before each run (content to send, say). */
  prepare?(run: number): Promise<void>;
  /** One run; each must do new work (an upload sends content no earlier run stored). */
  run(run: number): Promise<PhaseRun>;
}

interface PhaseResult {
  phase: Phase;
  /** `cpu` has no figure for a meter that cannot be read. */
  runs: Array<PhaseRun & { ms: number; cpu: Partial<Record<Meter, number>> }>;
  peakRss: Record<ProcessMeter, number>;
  /** Whether other databases on the PostgreSQL server were used during a run (their work is then in its figures), or the server could not tell. */
  otherDatabases?: "used" | "unknown";
  /** False when the stack did not go quiet after a run within 30 s (its CPU figures then miss a tail). */
  settled: boolean;
  /** Why the phase stopped, when a run failed; its other figures are left out. */
  failure?: string;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
/** MiB on the wire: a delta upload's few chunks show as a fraction, not as 0. */
const sentMiB = (bytes: number) => (bytes / MiB).toFixed(bytes > 0 && bytes < 10 * MiB ? 2 : 0);

/** Runs a phase `runs` times, charging each meter the CPU it used from the start of a run until the stack is quiet again. */
async function measure(phase: Phase, { cpu: meters, pids, quiet, postgres }: Metering): Promise<PhaseResult> {
  const result: PhaseResult = { phase, runs: [], peakRss: Object.fromEntries(PROCESSES.map((m) => [m, 0])) as Record<ProcessMeter, number>, settled: true };
  const metered = [...meters.keys()];
  const readAll = () => Promise.all(metered.map((m) => meters.get(m)!()));
  const server = "unmetered" in postgres ? undefined : postgres;
  const phaseRuns = Math.max(runs, phase.minRuns ?? 0);
  for (let run = 0; run < phaseRuns; run++) {
    await phase.prepare?.(run);
    await quiet.wait();
    await Promise.all(PROCESSES.map((m) => resetPeakRss(pids[m])));
    const useBefore = await server?.useElsewhere();
    const before = await readAll();
    const start = performance.now();
    let moved: PhaseRun;
    try {
      moved = await phase.run(run);
    } catch (err) {
      result.failure = (err as Error).message;
      process.stdout.write(`  ${phase.name} run ${run + 1}/${phaseRuns} failed: ${result.failure}\n`);
      return result;
    }
    const ms = performance.now() - start;
    result.settled &&= await quiet.wait();
    const after = await readAll();
    const counted = (performance.now() - start) / 1000;
    const useAfter = await server?.useElsewhere();
    if (server && result.otherDatabases !== "used") {
      if (useBefore === undefined || useAfter === undefined) result.otherDatabases = "unknown";
      else if (useBefore !== useAfter) result.otherDatabases = "used";
    }
    const peaks = await Promise.all(PROCESSES.map((m) => peakRssBytes(pids[m])));
    PROCESSES.forEach((m, i) => (result.peakRss[m] = Math.max(result.peakRss[m], peaks[i]!)));
    // What a meter burns idle (a profiler's sampling, timers) over the counted time is not the phase's.
    const cpu = Object.fromEntries(metered.map((m, i) => [m, Math.max(0, after[i]! - before[i]! - quiet.idleCpuSeconds(m, counted))]));
    result.runs.push({ ...moved, ms, cpu });
    process.stdout.write(`  ${phase.name} run ${run + 1}/${phaseRuns}: ${(ms / 1000).toFixed(1)} s\n`);
  }
  return result;
}

/** Sends `frames` as the body of one HTTP request; resolves with the response status and body. */
function send(method: string, url: string, headers: Record<string, string>, frames: Iterable<Buffer>, size: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, "content-length": String(size) } });
    req.on("error", reject);
    req.on("response", (res: IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (part: string) => (body += part));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    void (async () => {
      for (const frame of frames) if (!req.write(frame)) await new Promise((r) => req.once("drain", r));
      req.end();
    })().catch(reject);
  });
}

/** Hashes a stream of parts: (SHA-256, bytes). */
async function digest(parts: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const part of parts) {
    hash.update(part);
    bytes += part.length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** GETs a URL and hashes the body: (SHA-256, bytes). */
async function receive(url: string, headers: Record<string, string> = {}): Promise<{ sha256: string; bytes: number }> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => request(url, { headers }, resolve).on("error", reject).end());
  if (res.statusCode !== 200) {
    res.resume();
    throw new Error(`GET ${url}: ${res.statusCode}`);
  }
  return digest(res);
}

/**
 * `sendFrom`: the large uploads send their frames from memory used again
 * once each is written. Without that every frame waiting in HTTP/2's send
 * buffer outlives a young collection and is freed only by a full one: ~1.5
 * CPU-s per GiB of this process's, taken from the services on this 2-core
 * machine (tusd's client writes its frames as they are, with no message to
 * copy them into). Their client's channel keeps no retry buffer: grpc-js
 * calls back a write that fits one at once and keeps the message, so a
 * written callback would not mean the memory is free. (The other calls keep
 * grpc-js's transparent retry on a channel of their own.)
 */
interface PooledUploads {
  client: ChunkerServiceClient;
  sendFrom: BufferPool;
}

function grpcUpload(
  client: ChunkerServiceClient,
  token: string,
  name: string,
  frames: Iterable<Buffer>,
  size: number,
  sendFrom?: BufferPool,
): Promise<{ fileId: string; sha256: string }> {
  return new Promise((resolve, reject) => {
    const call = client.uploadFile(auth(token), (err, res) => (err ? reject(err) : resolve(res.file!)));
    void (async () => {
      call.write({ payload: { $case: "metadata", value: { name, size, contentType: "" } } });
      for (const frame of frames) {
        let data = frame;
        let written: ((err?: Error | null) => void) | undefined;
        if (sendFrom) {
          // The copy the codec would make, into memory with room for the message's headers in front.
          const pooled = withHeadroom(frame.length, sendFrom);
          frame.copy(pooled);
          data = pooled;
          written = (err) => {
            if (!err) sendFrom.give(pooled.buffer);
          };
        }
        if (!call.write({ payload: { $case: "data", value: data } }, written)) await new Promise((r) => call.once("drain", r));
      }
      call.write({ payload: { $case: "finish", value: {} } });
      call.end();
    })().catch(reject);
  });
}

/** One UploadFiles call: every file's header and bytes, then `finish`. */
function grpcUploadBatch(chunker: ChunkerServiceClient, token: string, files: ReadonlyArray<{ name: string; data: Buffer }>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const call = chunker.uploadFiles(auth(token), (err, res) => (err ? reject(err) : resolve(res.files)));
    void (async () => {
      for (const { name, data } of files) {
        call.write({ payload: { $case: "file", value: { name, size: data.length, contentType: "" } } });
        if (!call.write({ payload: { $case: "data", value: data } })) await new Promise((r) => call.once("drain", r));
      }
      call.write({ payload: { $case: "finish", value: {} } });
      call.end();
    })().catch(reject);
  });
}

function grpcDownload(chunker: ChunkerServiceClient, token: string, fileId: string): Promise<{ sha256: string; bytes: number }> {
  const call = chunker.downloadFile({ fileId, offset: 0, length: 0, version: 0 }, auth(token));
  return digest(
    (async function* () {
      for await (const message of call as AsyncIterable<DownloadFileResponse>) if (message.payload?.$case === "data") yield message.payload.value;
    })(),
  );
}

/** The SHA-256 of a content variant, computed outside any timed run to check what comes back. */
const expectedHashes = new Map<number, string>();
function expectedSha256(variant: number): string {
  let hash = expectedHashes.get(variant);
  if (!hash) {
    const h = createHash("sha256");
    for (const frame of benchFrames(total, variant)) h.update(frame);
    hash = h.digest("hex");
    expectedHashes.set(variant, hash);
  }
  return hash;
}

/**
 * An upload phase and the download phase that fetches what it stored, run
 * by run. Each upload run sends a content variant no other run sent; the
 * download checks the bytes against that variant's SHA-256.
 */
function roundTrip(
  names: { upload: string; download: string },
  baseline: Phase["baseline"],
  nextVariant: () => number,
  upload: (run: number, frames: Iterable<Buffer>) => Promise<{ ref: string; sha256?: string }>,
  download: (ref: string) => Promise<{ sha256: string; bytes: number }>,
): Phase[] {
  const stored: Array<{ variant: number; ref: string }> = [];
  return [
    {
      name: names.upload,
      direction: "upload",
      baseline,
      prepare: async (run) => {
        stored[run] = { variant: nextVariant(), ref: "" };
        expectedSha256(stored[run]!.variant);
      },
      run: async (run) => {
        const { variant } = stored[run]!;
        const { ref, sha256 } = await upload(run, benchFrames(total, variant));
        if (sha256 !== undefined && sha256 !== expectedSha256(variant)) throw new Error(`bench: ${names.upload} committed another SHA-256 than the bytes sent`);
        stored[run]!.ref = ref;
        return { bytes: total };
      },
    },
    {
      name: names.download,
      direction: "download",
      baseline,
      run: async (run) => {
        const { variant, ref } = stored[run]!;
        const got = await download(ref);
        if (got.bytes !== total || got.sha256 !== expectedSha256(variant)) {
          throw new Error(`bench: ${names.download} returned ${got.bytes} bytes with SHA-256 ${got.sha256}, not the ${total} bytes sent`);
        }
        return { bytes: got.bytes };
      },
    },
  ];
}

/** Every phase, in order. Content variants are numbered so that no two uploads send the same bytes. */
function phases(
  stack: RunningStack,
  chunker: ChunkerServiceClient,
  uploads: PooledUploads,
  s3: MinioClient,
  tusdFilesUrl: string,
  token: string,
  dataDir: string,
): Phase[] {
  let variants = 0;
  const nextVariant = () => variants++;
  const bearer = { authorization: `Bearer ${token}` };
  let smallFiles: Buffer[] = [];
  /** SMALL_FILES new contents of 4 KiB for a small-files phase. */
  const prepareSmallFiles = async () => {
    const bytes = benchBytes(SMALL_FILES * SMALL_FILE_BYTES, nextVariant());
    smallFiles = Array.from({ length: SMALL_FILES }, (_, i) => bytes.subarray(i * SMALL_FILE_BYTES, (i + 1) * SMALL_FILE_BYTES));
  };

  /**
   * The SMALL_FILES files, `perCall` to a call of `send`, `calls` calls at a
   * time. A file's latency is its call's: it is committed when its call is.
   */
  const smallFilesPhase = (
    name: string,
    folder: string,
    perCall: number,
    calls: number,
    send: (files: Array<{ name: string; data: Buffer }>) => Promise<unknown>,
  ): Phase => ({
    name,
    operations: true,
    prepare: prepareSmallFiles,
    run: async (run) => {
      const latenciesMs: number[] = [];
      let errors = 0;
      let next = 0;
      const caller = async () => {
        for (let first = next; first < SMALL_FILES; first = next) {
          next += perCall;
          const files = smallFiles.slice(first, next).map((data, i) => ({ name: `bench/${folder}-${run}/${first + i}.bin`, data }));
          const start = performance.now();
          try {
            await send(files);
            latenciesMs.push(...files.map(() => performance.now() - start));
          } catch (err) {
            if (errors === 0) process.stdout.write(`  an upload failed (its files counted, the phase goes on): ${(err as Error).message}\n`);
            errors += files.length;
          }
        }
      };
      await Promise.all(Array.from({ length: calls }, caller));
      return { bytes: SMALL_FILES * SMALL_FILE_BYTES, latenciesMs, errors };
    },
  });

  return [
    ...roundTrip(
      { upload: "direct MinIO PUT (Node)", download: "direct MinIO GET (Node)" },
      "minio",
      nextVariant,
      async (run, frames) => {
        await s3.putObject("baseline", `object-${run}`, Readable.from(frames), total);
        return { ref: `object-${run}` };
      },
      async (ref) => digest(await s3.getObject("baseline", ref)),
    ),
    ...roundTrip(
      { upload: "tusd upload (one PATCH)", download: "tusd download (one GET)" },
      "tusd",
      nextVariant,
      async (_run, frames) => {
        const created = await fetch(tusdFilesUrl, { method: "POST", headers: { "tus-resumable": "1.0.0", "upload-length": String(total) } });
        if (created.status !== 201) throw new Error(`tusd POST: ${created.status} ${await created.text()}`);
        const ref = new URL(created.headers.get("location")!, tusdFilesUrl).toString();
        const headers = { "tus-resumable": "1.0.0", "upload-offset": "0", "content-type": "application/offset+octet-stream" };
        const patched = await send("PATCH", ref, headers, frames, total);
        if (patched.status !== 204) throw new Error(`tusd PATCH: ${patched.status} ${patched.body}`);
        return { ref };
      },
      (ref) => receive(ref),
    ),
    ...roundTrip(
      { upload: "cfs gRPC upload", download: "cfs gRPC download" },
      undefined,
      nextVariant,
      async (run, frames) => {
        const file = await grpcUpload(uploads.client, token, `bench/grpc-${run}.bin`, frames, total, uploads.sendFrom);
        return { ref: file.fileId, sha256: file.sha256 };
      },
      (ref) => grpcDownload(chunker, token, ref),
    ),
    ...roundTrip(
      { upload: "cfs REST upload (edge)", download: "cfs REST download (edge)" },
      undefined,
      nextVariant,
      async (run, frames) => {
        const res = await send("POST", `${stack.edgeUrl}/v1/files?name=bench/rest-${run}.bin`, { ...bearer, "content-type": "application/octet-stream" }, frames, total);
        if (res.status !== 200) throw new Error(`REST upload: ${res.status} ${res.body}`);
        const file = (JSON.parse(res.body) as { file: { fileId: string; sha256: string } }).file;
        return { ref: file.fileId, sha256: file.sha256 };
      },
      (ref) => receive(`${stack.edgeUrl}/v1/files/${ref}/content`, bearer),
    ),
    ...deltaPhases({
      dataDir,
      chunkerAddress: stack.addresses.chunker,
      metadataAddress: stack.addresses.metadata,
      syncAddress: stack.addresses.sync,
      token,
      total,
      nextVariant,
    }),
    smallFilesPhase(`${SMALL_FILES} uploads of 4 KiB, ${SMALL_FILES_AT_ONCE} at a time (gRPC)`, "small", 1, SMALL_FILES_AT_ONCE, ([file]) =>
      grpcUpload(chunker, token, file!.name, [file!.data], SMALL_FILE_BYTES),
    ),
    ...SMALL_FILE_BATCHES.map(({ perCall, calls }) =>
      smallFilesPhase(
        `${SMALL_FILES} uploads of 4 KiB, ${perCall} per UploadFiles call, ${calls === 1 ? "one call" : `${calls} calls`} at a time`,
        `batch-${perCall}`,
        perCall,
        calls,
        (files) => grpcUploadBatch(chunker, token, files),
      ),
    ),
    {
      name: "one 4 KiB upload on an idle stack",
      operations: true,
      // One upload a run, each after the stack went quiet: its p50 is the median of the runs, and 3 are too few on a shared machine.
      minRuns: IDLE_UPLOADS,
      prepare: async () => {
        smallFiles = [benchBytes(SMALL_FILE_BYTES, nextVariant())];
      },
      run: async (run) => {
        const start = performance.now();
        await grpcUpload(chunker, token, `bench/idle-${run}.bin`, smallFiles, SMALL_FILE_BYTES);
        return { bytes: SMALL_FILE_BYTES, latenciesMs: [performance.now() - start] };
      },
    },
  ];
}

function report(results: PhaseResult[], postgres: Metering["postgres"]): string {
  const cell = (text: string, width: number, left = false) => (left ? text.padEnd(width) : text.padStart(width));
  const nameWidth = Math.max(...results.map((r) => r.phase.name.length));
  const done = (r: PhaseResult) => !r.failure && r.runs.length > 0;
  const medianOf = (r: PhaseResult, value: (run: PhaseResult["runs"][number]) => number) => median(r.runs.map(value));
  const medianMbps = (r: PhaseResult) => mbps(medianOf(r, (x) => x.bytes), medianOf(r, (x) => x.ms));
  const ratio = (r: PhaseResult, kind: "tusd" | "minio") => {
    const base = results.find((b) => b.phase.direction === r.phase.direction && b.phase.baseline === kind && done(b));
    return r.phase.direction && base ? (medianMbps(r) / medianMbps(base)).toFixed(2) : "—";
  };
  const meterHeader = METERS.map((m) => cell(m, 14)).join("");
  const meterCells = (value: (m: Meter) => number | undefined) => METERS.map((m) => cell(value(m)?.toFixed(2) ?? "—", 14)).join("");
  /** The median CPU-seconds of meter `m` over the runs, divided by `per`; none for a meter that was not read. */
  const cpuPer = (r: PhaseResult, m: Meter, per: number) => (r.runs[0]!.cpu[m] === undefined ? undefined : medianOf(r, (x) => x.cpu[m]!) / per);
  const processHeader = PROCESSES.map((m) => cell(m, 14)).join("");
  const failed = (r: PhaseResult) => `  ${cell(r.phase.name, nameWidth, true)}  failed: ${r.failure ?? "no run"}`;
  const bulk = results.filter((r) => !r.phase.operations);
  const small = results.filter((r) => r.phase.operations);
  const unsettled = results.filter((r) => !r.settled).map((r) => r.phase.name);
  const usedElsewhere = results.filter((r) => r.otherDatabases === "used").map((r) => r.phase.name);
  const unknownElsewhere = results.filter((r) => r.otherDatabases === "unknown").map((r) => r.phase.name);
  const speedups = bulk.filter((r) => r.phase.speedupOver && done(r)).flatMap((r) => {
    const base = bulk.find((b) => b.phase.name === r.phase.speedupOver && done(b));
    return base ? [`  ${r.phase.name}: ${(medianOf(base, (x) => x.ms) / medianOf(r, (x) => x.ms)).toFixed(1)}× faster than "${base.phase.name}"`] : [];
  });
  return [
    "",
    `throughput: ${total / MiB} MiB a run, median of ${runs} runs; cfs chunks on ${diskBlocks ? "local disk" : "MinIO"}; ` +
      "CPU-seconds per GiB moved, by process (from the start of a run until the stack is quiet again, less what it burns idle)",
    `  ${cell("phase", nameWidth, true)}${cell("MB/s", 7)}${cell("× tusd", 8)}${cell("× MinIO", 9)}${cell("sent MiB", 10)}${meterHeader}`,
    ...bulk.map((r) => {
      if (!done(r)) return failed(r);
      const gib = medianOf(r, (x) => x.bytes) / GiB;
      return (
        `  ${cell(r.phase.name, nameWidth, true)}${cell(medianMbps(r).toFixed(0), 7)}${cell(ratio(r, "tusd"), 8)}${cell(ratio(r, "minio"), 9)}` +
        `${cell(sentMiB(medianOf(r, (x) => x.wireBytes ?? x.bytes)), 10)}${meterCells((m) => cpuPer(r, m, gib))}`
      );
    }),
    ...speedups,
    // Only the tables of phases that ran (CFS_BENCH_ONLY may leave one out).
    ...(small.length === 0
      ? []
      : [
        "",
        `small files: latency of each upload (on an idle stack: the median of at least ${IDLE_UPLOADS} runs of one upload); CPU-milliseconds per upload, by process`,
        `  ${cell("phase", nameWidth, true)}${cell("uploads/s", 10)}${cell("p50 ms", 8)}${cell("p99 ms", 8)}${cell("errors", 7)}${meterHeader}`,
        ...small.map((r) => {
          if (!done(r)) return failed(r);
          const many = r.runs[0]!.latenciesMs!.length > 1;
          const operations = medianOf(r, (x) => x.latenciesMs!.length + (x.errors ?? 0));
          return (
            `  ${cell(r.phase.name, nameWidth, true)}` +
            `${cell(many ? (operations / (medianOf(r, (x) => x.ms) / 1000)).toFixed(0) : "—", 10)}` +
            `${cell(medianOf(r, (x) => percentile(x.latenciesMs!, 50)).toFixed(1), 8)}` +
            `${cell(many ? medianOf(r, (x) => percentile(x.latenciesMs!, 99)).toFixed(1) : "—", 8)}` +
            `${cell(String(r.runs.reduce((n, x) => n + (x.errors ?? 0), 0)), 7)}` +
            meterCells((m) => cpuPer(r, m, operations / 1000))
          );
        }),
        ]),
    "",
    "peak RSS per process (MB), the highest of the runs",
    `  ${cell("phase", nameWidth, true)}${processHeader}`,
    ...results.filter(done).map((r) => `  ${cell(r.phase.name, nameWidth, true)}${PROCESSES.map((m) => cell((r.peakRss[m] / 1e6).toFixed(0), 14)).join("")}`),
    "",
    "bench = this process: the clients, the making of the data (AES-CTR), and for REST the edge, which runs in it.",
    "unmetered" in postgres
      ? `postgres = the PostgreSQL server, not metered (—): ${postgres.unmetered}.`
      : `postgres = the PostgreSQL server: its postmaster (pid ${postgres.postmasterPid}) and every process under it (backends, also those that exited, checkpointer, WAL and background writers, autovacuum), for all the databases it serves.`,
    ...(usedElsewhere.length > 0 ? [`postgres: other databases on the server were used during (their work is in its figures): ${usedElsewhere.join(", ")}`] : []),
    ...(unknownElsewhere.length > 0 ? [`postgres: the server could not tell whether its other databases were used during: ${unknownElsewhere.join(", ")} (pg_stat_database has sessions from PostgreSQL 14 on)`] : []),
    "MB/s moves with the load of the others on this shared machine; CPU-seconds per GiB is the steady figure.",
    ...(profiling ? ["CFS_BENCH_PROFILE=1: the profiler's own work while idle is subtracted, its cost while busy is not."] : []),
    ...(unsettled.length > 0 ? [`not quiet within 30 s after a run (their CPU figures miss a tail): ${unsettled.join(", ")}`] : []),
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const setUpStart = performance.now();
  execFileSync("bash", ["scripts/ensure-postgres.sh"], { stdio: "inherit" });
  // The services run as compiled JavaScript, as in the images.
  execFileSync("bash", ["scripts/build.sh"], { stdio: "inherit" });
  const dataDir = await mkdtemp(join(tmpdir(), "cfs-bench-"));
  const profileDir = profiling ? await mkdtemp(join(tmpdir(), "cfs-bench-profiles-")) : undefined;
  const [minio, db] = await Promise.all([startMinio(), createTestDatabase()]);
  const s3 = new MinioClient({
    endPoint: "127.0.0.1",
    port: Number(new URL(minio.endpoint).port),
    useSSL: false,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
  });
  await Promise.all([s3.makeBucket("baseline"), s3.makeBucket("tusd")]);
  const tusd = await startTusd({ s3: { ...minio, bucket: "tusd" }, dir: dataDir });
  const postgres = await meterPostgres(db.url);
  let stack: RunningStack | undefined;
  let chunker: ChunkerServiceClient | undefined;
  let bulkChunker: ChunkerServiceClient | undefined;
  /** The services' logs stay when something failed. */
  let keepLogs = true;
  try {
    stack = await startStack({
      dataDir,
      databaseUrl: db.url,
      s3: diskBlocks ? undefined : { endpoint: minio.endpoint, accessKey: minio.accessKey, secretKey: minio.secretKey, bucket: "cfs-bench" },
      defaultPorts: false,
      logs: "files",
      runtime: "dist",
      // The caller's CFS_* settings reach the services, as with make run (CFS_STORE_WRITES_IN_FLIGHT=32 make bench weighs one).
      inheritedEnv: Object.fromEntries(Object.entries(passedThrough(process.env)).filter(([name]) => !name.startsWith("CFS_BENCH_"))),
      env: { CFS_LOG_LEVEL: serviceLogLevel, ...(nodeOptions !== undefined ? { NODE_OPTIONS: nodeOptions } : {}) },
      // REST through the TypeScript edge of make run (in this process).
      edge: {},
      nodeArgs: Object.fromEntries(
        SERVICE_NAMES.map((name) => [name, [...extraNodeArgs, ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, name)}`] : [])]]),
      ),
    });
    // The client cfs ships (the CLI's): payloads encoded and decoded with one
    // copy each. ts-proto's generated client copies each payload three times
    // more, CPU that this process would take from the services on this
    // 2-core machine (tusd's and MinIO's clients are lean too).
    const options = channelOptions(8 * 1024 * 1024, 4 * 1024 * 1024);
    chunker = new ChunkerClient(stack.addresses.chunker, grpc.credentials.createInsecure(), options);
    bulkChunker = new ChunkerClient(stack.addresses.chunker, grpc.credentials.createInsecure(), { ...options, "grpc.per_rpc_retry_buffer_size": 0 });
    const token = await stack.issuer!.userToken("bench", 6 * 3600);
    const pids = {
      ...Object.fromEntries(SERVICE_NAMES.map((name) => [name, stack!.processes.get(name)!.pid!])),
      minio: minio.pid,
      tusd: tusd.pid,
      bench: process.pid,
    } as Record<ProcessMeter, number>;
    const cpu = new Map<Meter, CpuReader>([
      ...PROCESSES.map((m): [Meter, CpuReader] => [m, () => cpuSeconds(pids[m])]),
      ...("unmetered" in postgres ? [] : [["postgres", postgres.cpuSeconds] as [Meter, CpuReader]]),
    ]);

    process.stdout.write(`make bench: ${total / MiB} MiB a run, ${runs} runs a phase (set up in ${((performance.now() - setUpStart) / 1000).toFixed(0)} s)\n`);
    process.stdout.write(
      "unmetered" in postgres
        ? `postgres: the server is not metered: ${postgres.unmetered}\n`
        : `postgres: metering the server's postmaster, pid ${postgres.postmasterPid}, and every process under it\n`,
    );
    // This process is left out: it is the one watching.
    const quiet = await QuietWatch.calibrate(new Map([...cpu].filter(([m]) => m !== "bench")));
    const metering: Metering = { cpu, pids, quiet, postgres };
    const results: PhaseResult[] = [];
    const uploads = { client: bulkChunker, sendFrom: new BufferPool(IDLE_CHUNK_BUFFER_BYTES) };
    for (const phase of phases(stack, chunker, uploads, s3, tusd.filesUrl, token, dataDir)) {
      if (!only || only.test(phase.name)) results.push(await measure(phase, metering));
    }
    process.stdout.write(report(results, postgres));
    keepLogs = process.env.CFS_BENCH_KEEP_LOGS === "1" || results.some((r) => r.failure || r.runs.some((x) => x.errors));
  } finally {
    chunker?.close();
    bulkChunker?.close();
    await stack?.stop();
    await tusd.stop();
    if (!("unmetered" in postgres)) await postgres.close();
    await Promise.all([minio.stop(), db.drop()]);
    if (keepLogs) {
      for (const entry of await readdir(dataDir)) if (entry !== "logs" && entry !== "tusd.log") await rm(join(dataDir, entry), { recursive: true, force: true });
      process.stdout.write(`\nthe logs are in ${join(dataDir, "logs")} and ${join(dataDir, "tusd.log")}\n`);
    } else {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  if (profileDir) {
    process.stdout.write(`\nCPU profiles of the services: ${profileDir} (one folder per service; open a .cpuprofile in Chrome DevTools)\n`);
    await printProfileSummary(profileDir, 15);
  }
}

await main();
