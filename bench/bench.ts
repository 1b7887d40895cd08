import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile, mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Client as MinioClient } from "minio";
import { startStack, SERVICE_NAMES, type ServiceName } from "../dev/stack.js";
import { auth, clientsFor } from "../tests/support/clients.js";
import { startMinio } from "../tests/support/minio.js";
import { createTestDatabase } from "../tests/support/postgres.js";
import type { DownloadFileResponse } from "#gen/cfs/chunker/v1/chunker.js";

/**
 * `make bench`: moves the same bytes (default 1 GiB, CFS_BENCH_BYTES) through
 * cfs (gRPC client -> chunker -> block storage on MinIO + metadata on
 * PostgreSQL) and, as the baseline measured in the same run, straight into
 * MinIO from Node. Prints MB/s, the ratio to the baseline, and each service's
 * peak RSS per phase. Numbers on a shared 2-core machine are noisy: compare
 * ratios, not absolutes.
 */
const MiB = 1024 * 1024;
const total = Number(process.env.CFS_BENCH_BYTES ?? 1024 * MiB);
const FRAME = 256 * 1024;

/** Deterministic, non-repeating content: a random MiB with each MiB's index stamped in. */
const block = Buffer.alloc(MiB);
for (let i = 0; i < MiB; i += 4) block.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
/** `variant` stamps every MiB differently, so a second upload stores new chunks instead of finding them stored. */
function* content(variant = 0): Generator<Buffer> {
  for (let offset = 0; offset < total; offset += FRAME) {
    const frame = Buffer.from(block.subarray(offset % MiB, (offset % MiB) + Math.min(FRAME, total - offset)));
    if (offset % MiB === 0 && frame.length >= 12) {
      frame.writeDoubleLE(offset / MiB, 0);
      frame.writeUInt32LE(variant, 8);
    }
    yield frame;
  }
}

const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, performance.now() - start];
}

async function peakRss(pid: number): Promise<number> {
  const statusText = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(statusText)?.[1] ?? 0) * 1024;
}
/** Resets the kernel's peak-RSS mark so each phase is measured on its own. */
async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, "5").catch(() => undefined);
}

async function main(): Promise<void> {
  execFileSync("bash", ["scripts/ensure-postgres.sh"], { stdio: "inherit" });
  // The services run as compiled JavaScript, as in the images.
  execFileSync("bash", ["scripts/build.sh"], { stdio: "inherit" });
  const dataDir = await mkdtemp(join(tmpdir(), "cfs-bench-"));
  const [minio, db] = await Promise.all([startMinio(), createTestDatabase()]);
  const stack = await startStack({
    dataDir,
    databaseUrl: db.url,
    // CFS_BENCH_BLOCKS=disk stores chunks on local disk instead, to tell MinIO's share of the cost from cfs's own.
    s3:
      process.env.CFS_BENCH_BLOCKS === "disk"
        ? undefined
        : { endpoint: minio.endpoint, accessKey: minio.accessKey, secretKey: minio.secretKey, bucket: "cfs-bench" },
    defaultPorts: false,
    logs: "files",
    runtime: "dist",
    env: { CFS_LOG_LEVEL: "warn" },
    // REST through the TypeScript edge of make run (in this process).
    edge: {},
  });
  const clients = clientsFor(stack.addresses);
  const token = await stack.issuer!.userToken("bench");
  const s3 = new MinioClient({
    endPoint: "127.0.0.1",
    port: Number(new URL(minio.endpoint).port),
    useSSL: false,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
  });
  await s3.makeBucket("baseline");
  const pids = Object.fromEntries(SERVICE_NAMES.map((n) => [n, stack.processes.get(n)!.pid!])) as Record<ServiceName, number>;
  const rss: Record<string, Record<ServiceName, number>> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<[T, number]> => {
    await Promise.all(Object.values(pids).map(resetPeak));
    const result = await timed(fn);
    rss[name] = Object.fromEntries(await Promise.all(SERVICE_NAMES.map(async (n) => [n, await peakRss(pids[n])]))) as Record<ServiceName, number>;
    return result;
  };

  try {
    process.stdout.write(`moving ${(total / MiB).toFixed(0)} MiB each way...\n`);
    const [, putMs] = await timed(() => s3.putObject("baseline", "object", Readable.from(content()), total));
    const [getHash, getMs] = await timed(async () => {
      const hash = createHash("sha256");
      for await (const part of await s3.getObject("baseline", "object")) hash.update(part as Buffer);
      return hash.digest("hex");
    });

    const [file, upMs] = await phase("upload", () =>
      new Promise<{ fileId: string; sha256: string }>((resolve, reject) => {
        const call = clients.chunker.uploadFile(auth(token), (err, res) => (err ? reject(err) : resolve(res.file!)));
        void (async () => {
          call.write({ payload: { $case: "metadata", value: { name: "bench.bin", size: total, contentType: "" } } });
          for (const frame of content()) {
            if (!call.write({ payload: { $case: "data", value: frame } })) await new Promise((r) => call.once("drain", r));
          }
          call.write({ payload: { $case: "finish", value: {} } });
          call.end();
        })().catch(reject);
      }),
    );
    const [downHash, downMs] = await phase("download", () =>
      new Promise<string>((resolve, reject) => {
        const hash = createHash("sha256");
        const call = clients.chunker.downloadFile({ fileId: file.fileId, offset: 0, length: 0 }, auth(token));
        call.on("data", (m: DownloadFileResponse) => m.payload?.$case === "data" && hash.update(m.payload.value));
        call.on("error", reject);
        call.on("end", () => resolve(hash.digest("hex")));
      }),
    );
    if (downHash !== file.sha256 || getHash !== file.sha256) throw new Error("bench: downloaded bytes differ from uploaded bytes");

    const [restFile, restUpMs] = await phase("REST up", () =>
      new Promise<{ sha256: string; fileId: string }>((resolve, reject) => {
        const req = request(`${stack.edgeUrl}/v1/files?name=bench-rest.bin`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream", "content-length": String(total) },
        });
        req.on("error", reject);
        req.on("response", (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (part: string) => (body += part));
          res.on("end", () => (res.statusCode === 200 ? resolve((JSON.parse(body) as { file: { sha256: string; fileId: string } }).file) : reject(new Error(body))));
        });
        void (async () => {
          for (const frame of content(1)) if (!req.write(frame)) await new Promise((r) => req.once("drain", r));
          req.end();
        })().catch(reject);
      }),
    );
    const [restDownHash, restDownMs] = await phase("REST down", async () => {
      const hash = createHash("sha256");
      const response = await fetch(`${stack.edgeUrl}/v1/files/${restFile.fileId}/content`, { headers: { authorization: `Bearer ${token}` } });
      for await (const part of response.body!) hash.update(part);
      return hash.digest("hex");
    });
    if (restDownHash !== restFile.sha256) throw new Error("bench: REST download differs from the REST upload");

    const row = (label: string, ms: number, baseline?: number) =>
      `  ${label.padEnd(28)} ${mbps(total, ms).toFixed(0).padStart(6)} MB/s` +
      (baseline ? `   ${(mbps(total, ms) / mbps(total, baseline)).toFixed(2)}× of direct MinIO` : "");
    process.stdout.write(
      [
        "",
        "throughput",
        row("direct MinIO PUT (baseline)", putMs),
        row("direct MinIO GET (baseline)", getMs),
        row("cfs upload", upMs, putMs),
        row("cfs download", downMs, getMs),
        row("cfs REST upload (edge)", restUpMs, putMs),
        row("cfs REST download (edge)", restDownMs, getMs),
        "",
        "peak RSS per service (MB)",
        `  ${"phase".padEnd(10)}${SERVICE_NAMES.map((n) => n.padStart(15)).join("")}`,
        ...Object.entries(rss).map(
          ([name, byService]) => `  ${name.padEnd(10)}${SERVICE_NAMES.map((n) => (byService[n] / MiB).toFixed(0).padStart(15)).join("")}`,
        ),
        "",
      ].join("\n"),
    );
  } finally {
    clients.close();
    await stack.stop();
    await Promise.all([minio.stop(), db.drop()]);
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
