import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import type { JsonObject } from "@bufbuild/protobuf";
import { service as healthService } from "grpc-health-check";
import { parseAuthConfig } from "#lib/auth.js";
import { createLogger } from "#lib/logger.js";
import { parseCallCaps } from "#lib/service.js";
import { parseStreamLimits, type StreamLimits } from "#lib/stream-guard.js";
import { loadRegistry } from "../gateway/edge/routes.js";
import { startEdge, type RunningEdge } from "../gateway/edge/edge.js";
import { startDevIssuer, type DevIssuer } from "./issuer.js";
import { describeEvent, quickExits, restartDelayMs, type SupervisionEvent } from "./supervisor.js";
import { freePorts } from "./net.js";
import { startPglite } from "./pglite.js";

/**
 * Starts the four cfs services as separate processes on loopback, wired to
 * each other, plus what they need on one machine: PGlite (unless a database
 * URL is given) and the dev token issuer (unless an issuer is given). Used by
 * `make run`, `make bench` and the end-to-end tests.
 */
export type ServiceName = "metadata" | "sync" | "chunker" | "block-storage" | "webdav";
/**
 * V8 flags every service runs with (the image's entrypoint passes the same;
 * NODE_OPTIONS refuses this one). Chunk buffers that wait a moment (a batch
 * being stored, reads ahead) outlive the 2 MB young generation and are
 * promoted; their bytes count against the old generation's limit, which
 * starts at a few MB for a heap this small, so V8 ran a full mark-compact for
 * every ~6 MiB moved (45 of them in the chunker for a 256 MiB upload). A
 * 64 MB starting limit lets them be freed in far fewer collections
 * (`make bench`, 512 MiB, CPU-seconds per GiB: chunker upload 11.5 -> 7.0,
 * download 6.9 -> 4.1; block storage download 8.3 -> 4.9), for a peak RSS
 * still under 180 MB (96 MB saved a little more CPU but went past 200 MB).
 */
export const SERVICE_V8_FLAGS = ["--initial-old-space-size=64"];

export const SERVICE_NAMES: readonly ServiceName[] = ["block-storage", "sync", "metadata", "chunker", "webdav"];

/** Where the services of one start attempt listen. */
export interface StackPorts {
  services: Record<ServiceName, number>;
  metrics: Record<ServiceName, number>;
  /** The metadata service's app-token issuer publishes its keys here (app passwords). */
  appTokenJwks: number;
}

const DEFAULT_PORTS: StackPorts = {
  services: { metadata: 8000, sync: 8001, chunker: 8002, "block-storage": 8003, webdav: 8005 },
  metrics: { metadata: 9100, sync: 9101, chunker: 9102, "block-storage": 9103, webdav: 9105 },
  appTokenJwks: 8004,
};

/** Free ports for every listener of a stack, all different. */
export async function freeStackPorts(): Promise<StackPorts> {
  const ports = await freePorts(2 * SERVICE_NAMES.length + 1);
  const next = () => ports.pop()!;
  const perService = () => Object.fromEntries(SERVICE_NAMES.map((name) => [name, next()])) as Record<ServiceName, number>;
  return { services: perService(), metrics: perService(), appTokenJwks: next() };
}

/** Served over HTTP (its readiness is /readyz), the others over gRPC (grpc.health.v1). */
const isHttp = (name: ServiceName): name is "webdav" => name === "webdav";
/**
 * What readiness asks grpc.health.v1 about: a gRPC service of the process's
 * own (lib/health.ts registers each). Every gRPC server with health says
 * SERVING for "", so when another test's server had taken a service's port,
 * it passed as that service.
 */
const HEALTH_SERVICE: Record<Exclude<ServiceName, "webdav">, string> = {
  metadata: "cfs.metadata.v1.MetadataService",
  sync: "cfs.sync.v1.SyncService",
  chunker: "cfs.chunker.v1.ChunkerService",
  "block-storage": "cfs.blockstore.v1.BlockStorageService",
};

export interface ExternalAuth {
  issuer: string;
  audience: string;
  jwksUri?: string;
  serviceClientId: string;
  serviceClientSecret: string;
  serviceTokenUrl?: string;
  /** The Auth0 SPA application's client id, for the web page's sign-in. */
  spaClientId?: string;
}

/** The HTTP edge (REST + web page), the single-machine stand-in for Envoy. */
export interface EdgeOptions {
  /** Default: 8080 with defaultPorts, else a free port. */
  port?: number;
  /** The built page (web/dist); unset serves the API only. */
  webRoot?: string;
  /** Origins of pages served elsewhere that may call the API. */
  corsOrigins?: string[];
  /** How the page signs in (its /config.json `auth`); default: the dev issuer, or Auth0 with options.auth. */
  pageAuth?: JsonObject;
  /** How slow a request body may be; default: the services' CFS_STREAM_* settings. */
  bodyLimits?: StreamLimits;
}

export interface StackOptions {
  dataDir: string;
  /** PostgreSQL URL; unset means an embedded PGlite under dataDir/pglite. */
  databaseUrl?: string;
  /** Persist PGlite under dataDir (make run) or keep it in memory (tests). */
  persistPglite?: boolean;
  /**
   * S3/MinIO settings; unset means chunks on local disk under dataDir/blocks.
   * With a PostgreSQL databaseUrl block storage packs chunks and keeps its
   * pack index in that database (its own block_* tables); with PGlite, whose
   * single session two services cannot share, every chunk is its own object.
   */
  s3?: { endpoint: string; accessKey: string; secretKey: string; bucket: string };
  /** A real issuer; unset means the dev issuer on loopback. */
  auth?: ExternalAuth;
  /** true: the default ports (8000-8005, metrics 9100-9105); false: free ports. */
  defaultPorts: boolean;
  /** How each attempt picks its free ports (default freeStackPorts): tests hand the stack a port that is taken. */
  choosePorts?: () => Promise<StackPorts>;
  devIssuerPort?: number;
  /** Extra environment for every service (e.g. CFS_GC_GRACE_SECONDS=0); it overrides the stack's own wiring. */
  env?: Record<string, string>;
  /** Environment for every service that the stack's wiring overrides (make run: the caller's CFS_* variables). */
  inheritedEnv?: Record<string, string>;
  /**
   * Restart a service that exits on its own (not by kill/stop) with backoff,
   * printing a line and reporting each event (make run).
   */
  supervise?: boolean | { onEvent?: (event: SupervisionEvent) => void };
  /** "inherit" prints service logs; otherwise they go to dataDir/logs/<service>.log. */
  logs: "inherit" | "files";
  /**
   * "tsx" runs the TypeScript sources (development, tests); "dist" runs the
   * compiled JavaScript of scripts/build.sh, as the images do (benchmarks).
   */
  runtime?: "tsx" | "dist";
  /** Also start the HTTP edge. */
  edge?: EdgeOptions;
  /**
   * Extra node arguments per service, before the script (e.g. make bench's
   * `--cpu-prof --cpu-prof-dir=…`, which NODE_OPTIONS refuses).
   */
  nodeArgs?: Partial<Record<ServiceName, string[]>>;
  /**
   * Processes per gRPC service (default 1). Replica i listens on 127.0.0.<i+1>
   * with the same ports, and the service's address names them all
   * (`ipv4:127.0.0.1:p,127.0.0.2:p`), as a headless Service lists its pods.
   */
  replicas?: Partial<Record<ServiceName, number>>;
}

export interface RunningStack {
  addresses: Record<ServiceName, string>;
  metricsPorts: Record<ServiceName, number>;
  issuer: DevIssuer | undefined;
  audience: string;
  env: Record<ServiceName, Record<string, string>>;
  /** The first replica of each service. */
  processes: Map<ServiceName, ChildProcess>;
  /** The process of replica `replica` (0-based) of a service, and the host it listens on. */
  replica(name: ServiceName, replica: number): { process: ChildProcess | undefined; host: string };
  /** http://127.0.0.1:<port> of the edge, when started. */
  edgeUrl: string | undefined;
  /** The services (replicas as `name#n`) not serving right now. */
  notServing(): Promise<string[]>;
  /** Another edge in front of the same services (e.g. with other sign-in settings); the caller closes it. */
  startEdge(edge: EdgeOptions): Promise<RunningEdge>;
  /** Starts a service (replica 0 unless given) again, after stop or kill, with the same settings. */
  start(name: ServiceName, replica?: number): Promise<void>;
  /** Sends a signal to one service (replica 0 unless given) and waits for it to exit. */
  kill(name: ServiceName, signal?: NodeJS.Signals, replica?: number): Promise<void>;
  stop(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Free ports are picked before the services start (each needs its peers'
 * addresses), so another process can take one in between, e.g. as the source
 * port of an outgoing connection. The service whose port was taken exits
 * (EADDRINUSE), and readiness asks for the service by name, so the server on
 * its port does not pass for it. On free ports a failed start is retried,
 * the whole stack on new ports (every service's environment names its
 * peers); a real start-up bug fails every attempt, and the error carries the
 * end of the failing service's log.
 */
export async function startStack(options: StackOptions): Promise<RunningStack> {
  if (options.defaultPorts) return startStackOnce(options, DEFAULT_PORTS);
  const attempts = 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStackOnce(options, await (options.choosePorts ?? freeStackPorts)());
    } catch (err) {
      const message = (err as Error).message;
      if (attempt >= attempts) throw new Error(`cfs stack: did not start in ${attempts} attempts, each on new ports; the last: ${message}`, { cause: err });
      process.stderr.write(`cfs stack: start attempt ${attempt} failed, retrying on new ports: ${message}\n`);
    }
  }
}

async function startStackOnce(options: StackOptions, { services: ports, metrics: metricsPorts, appTokenJwks: appTokenJwksPort }: StackPorts): Promise<RunningStack> {
  await mkdir(options.dataDir, { recursive: true });
  const closers: Array<() => Promise<void>> = [];
  const serviceClientId = options.auth?.serviceClientId ?? "cfs-services";
  const serviceClientSecret = options.auth?.serviceClientSecret ?? "dev-service-secret";
  const audience = options.auth?.audience ?? "https://cfs.local/api";

  let issuer: DevIssuer | undefined;
  if (!options.auth) {
    issuer = await startDevIssuer({
      port: options.devIssuerPort ?? 0,
      keyDir: options.persistPglite ? join(options.dataDir, "dev-issuer") : undefined,
      audience,
      serviceClientId,
      serviceClientSecret,
    });
    closers.push(() => issuer!.close());
  }

  let databaseUrl = options.databaseUrl;
  let poolMax = "10";
  /** Set only on PGlite, where it must be off; on PostgreSQL the service's default (on) or the caller's CFS_DATABASE_PREPARED_STATEMENTS. */
  let preparedStatements: Record<string, string> = {};
  if (!databaseUrl) {
    const pglite = await startPglite(options.persistPglite ? join(options.dataDir, "pglite") : undefined);
    closers.push(pglite.stop);
    databaseUrl = pglite.url;
    // PGlite executes one query at a time: one connection keeps transactions whole.
    poolMax = "1";
    // And its connections share one session: a statement one prepared, the next would prepare again.
    preparedStatements = { CFS_DATABASE_PREPARED_STATEMENTS: "false" };
  }

  const replicaCount = (name: ServiceName) => (isHttp(name) ? 1 : (options.replicas?.[name] ?? 1));
  const hostOf = (replica: number) => `127.0.0.${replica + 1}`;
  const instances = SERVICE_NAMES.flatMap((name) => Array.from({ length: replicaCount(name) }, (_, replica) => ({ name, replica })));
  const instanceKey = (name: ServiceName, replica: number) => (replica === 0 ? name : `${name}#${replica + 1}`);
  const addresses = Object.fromEntries(
    SERVICE_NAMES.map((n) => [
      n,
      replicaCount(n) === 1 ? `127.0.0.1:${ports[n]}` : `ipv4:${Array.from({ length: replicaCount(n) }, (_, i) => `${hostOf(i)}:${ports[n]}`).join(",")}`,
    ]),
  ) as Record<ServiceName, string>;

  const common: Record<string, string> = {
    ...options.inheritedEnv,
    // Chunks are 1 MiB buffers allocated and freed all the time. glibc's
    // dynamic mmap threshold soon serves them from its heap, which it rarely
    // returns to the OS; a fixed threshold keeps them mmapped, so RSS falls
    // back when they are freed (measured: chunker peak 198 -> 154 MB on a
    // 512 MiB upload). The images set the same, and the NODE_OPTIONS below.
    MALLOC_MMAP_THRESHOLD_: "131072",
    MALLOC_ARENA_MAX: "2",
    // A small young generation: the many short-lived message and chunk
    // objects are collected sooner, and the Buffers they hold with them
    // (1 GiB bench: block-storage peak 205 -> 160 MB, chunker 172 -> 149 MB,
    // at the same throughput).
    NODE_OPTIONS: "--max-semi-space-size=2",
    CFS_HOST: "127.0.0.1",
    CFS_DATA_DIR: options.dataDir,
    CFS_AUTH_ISSUER: options.auth?.issuer ?? issuer!.issuer,
    CFS_AUTH_AUDIENCE: audience,
    ...(options.auth?.jwksUri ? { CFS_AUTH_JWKS_URI: options.auth.jwksUri } : {}),
    CFS_SERVICE_CLIENT_ID: serviceClientId,
    CFS_SERVICE_CLIENT_SECRET: serviceClientSecret,
    ...(options.auth?.serviceTokenUrl ? { CFS_SERVICE_TOKEN_URL: options.auth.serviceTokenUrl } : {}),
    CFS_METADATA_ADDR: addresses.metadata,
    CFS_SYNC_ADDR: addresses.sync,
    CFS_BLOCKSTORE_ADDR: addresses["block-storage"],
    CFS_CHUNKER_ADDR: addresses.chunker,
    CFS_WEBDAV_ADDR: addresses.webdav,
    CFS_APP_TOKEN_JWKS_URI: `http://127.0.0.1:${appTokenJwksPort}/.well-known/jwks.json`,
    ...options.env,
  };
  const env = {} as Record<ServiceName, Record<string, string>>;
  for (const name of SERVICE_NAMES) {
    env[name] = { ...common, CFS_PORT: String(ports[name]), CFS_METRICS_PORT: String(metricsPorts[name]) };
  }
  // Only the edge calls it here: its X-Forwarded-For names the client (the failed-login limits count by it).
  env.webdav = { ...env.webdav, CFS_WEBDAV_TRUST_FORWARDED_FOR: "true" };
  // The key block storage signs its chunk receipts with and metadata checks them with (lib/chunk-receipts.ts), this stack's own.
  const receiptKeyFile = join(options.dataDir, "chunk-receipt.key");
  await writeFile(receiptKeyFile, randomBytes(32).toString("base64url"), { mode: 0o600 });
  for (const name of ["metadata", "block-storage"] as const) env[name] = { CFS_CHUNK_RECEIPT_KEY_FILE: receiptKeyFile, ...env[name] };
  env.metadata = {
    ...env.metadata,
    CFS_DATABASE_URL: databaseUrl,
    CFS_DATABASE_POOL_MAX: poolMax,
    ...preparedStatements,
    CFS_APP_TOKEN_JWKS_PORT: String(appTokenJwksPort),
  };
  if (options.s3) {
    env["block-storage"] = {
      // Before the services' environment, so that a caller's CFS_BLOCK_INDEX_URL="" turns packing off.
      ...(options.databaseUrl ? { CFS_BLOCK_INDEX_URL: options.databaseUrl } : {}),
      // Small packs in the index: off by default for rolling upgrades (services/block-storage/src/config.ts);
      // a stack started here has no replica of an older release.
      CFS_PACK_INLINE_BYTES: String(128 * 1024),
      ...env["block-storage"],
      CFS_S3_ENDPOINT: options.s3.endpoint,
      CFS_S3_ACCESS_KEY: options.s3.accessKey,
      CFS_S3_SECRET_KEY: options.s3.secretKey,
      CFS_S3_BUCKET: options.s3.bucket,
    };
  }

  const processes = new Map<ServiceName, ChildProcess>();
  const children = new Map<string, ChildProcess>();
  if (options.logs === "files") await mkdir(join(options.dataDir, "logs"), { recursive: true });
  const supervise = options.supervise ? (typeof options.supervise === "object" ? options.supervise : {}) : undefined;
  /** Instances stopped on purpose (kill, stop): not restarted. */
  const stopped = new Set<string>();
  const restarts = new Map<string, number>();
  const quick = new Map<string, number>();
  const restartTimers = new Map<string, NodeJS.Timeout>();
  const report = (event: SupervisionEvent) => {
    process.stderr.write(`cfs stack: ${describeEvent(event)}\n`);
    supervise?.onEvent?.(event);
  };

  const start = async (name: ServiceName, replica = 0) => {
    const key = instanceKey(name, replica);
    const address = `${hostOf(replica)}:${ports[name]}`;
    stopped.delete(key);
    clearTimeout(restartTimers.get(key));
    const args = [
      ...SERVICE_V8_FLAGS,
      ...(options.nodeArgs?.[name] ?? []),
      ...(options.runtime === "dist"
        ? [join("dist", "services", name, "src", "main.js")]
        : ["--import", "tsx", join("services", name, "src", "main.ts")]),
    ];
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env[name], CFS_HOST: hostOf(replica) },
      stdio: ["ignore", options.logs === "inherit" ? "inherit" : "pipe", options.logs === "inherit" ? "inherit" : "pipe"],
    });
    if (options.logs === "files") {
      const file = createWriteStream(join(options.dataDir, "logs", `${key}.log`), { flags: "a" });
      // Both pipes feed one file: it ends when the process and both pipes are done, not when the first pipe ends.
      child.stdout?.pipe(file, { end: false });
      child.stderr?.pipe(file, { end: false });
      child.once("close", () => file.end());
    }
    children.set(key, child);
    if (replica === 0) processes.set(name, child);
    if (supervise) {
      const startedAt = Date.now();
      child.once("exit", (code, signal) => {
        if (stopped.has(key) || children.get(key) !== child) return;
        const restart = (restarts.get(key) ?? 0) + 1;
        restarts.set(key, restart);
        quick.set(key, quickExits(quick.get(key) ?? 0, Date.now() - startedAt));
        const delayMs = restartDelayMs(quick.get(key)!);
        report({ service: key, kind: "exited", code, signal, delayMs, restarts: restart });
        restartTimers.set(
          key,
          setTimeout(() => {
            if (stopped.has(key)) return;
            start(name, replica).then(
              () => report({ service: key, kind: "restarted", restarts: restart }),
              // It exited while starting (that exit schedules the next try), or hangs: say so.
              (err: Error) => report({ service: key, kind: "failed", restarts: restart, error: err.message.split("\n")[0] }),
            );
          }, delayMs),
        );
      });
    }
    try {
      await waitReady(key, name, address, child);
    } catch (err) {
      const logTail =
        options.logs === "files" ? (await readFile(join(options.dataDir, "logs", `${key}.log`), "utf8").catch(() => "")).slice(-2000) : "";
      throw new Error(`${(err as Error).message}${logTail ? `\n--- end of ${key}.log ---\n${logTail}` : ""}`, { cause: err });
    }
  };

  const kill = async (name: ServiceName, signal: NodeJS.Signals = "SIGTERM", replica = 0) => {
    const key = instanceKey(name, replica);
    stopped.add(key);
    clearTimeout(restartTimers.get(key));
    const child = children.get(key);
    if (!child || hasExited(child)) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  };

  /** The services not serving right now: the edge's /healthz shows them, as Kubernetes shows a pod not ready. */
  const notServing = async (): Promise<string[]> => {
    const answers = await Promise.all(instances.map(({ name, replica }) => ready(name, `${hostOf(replica)}:${ports[name]}`)));
    return instances.filter((_, i) => !answers[i]).map(({ name, replica }) => instanceKey(name, replica));
  };

  let edge: RunningEdge | undefined;
  try {
    await Promise.all(instances.map(({ name, replica }) => start(name, replica)));
    // Health cannot tell a service from the same service of another stack
    // that took its port. Ours then fails to bind and exits, most likely
    // (not certainly) before the slowest of the others is ready.
    const exited = [...children].filter(([, child]) => hasExited(child)).map(([key]) => key);
    if (exited.length > 0) throw new Error(`${exited.join(", ")} exited after it answered ready: most likely another process on its port had answered`);
    if (options.edge) {
      edge = await startStackEdge(options, options.edge, common, issuer, notServing);
      closers.push(() => edge!.close());
    }
  } catch (err) {
    await Promise.all(instances.map(({ name, replica }) => kill(name, "SIGKILL", replica)));
    for (const close of closers.reverse()) await close();
    throw err;
  }

  return {
    addresses,
    metricsPorts,
    issuer,
    audience,
    env,
    processes,
    notServing,
    replica: (name, replica) => ({ process: children.get(instanceKey(name, replica)), host: hostOf(replica) }),
    edgeUrl: edge?.url,
    startEdge: (other) => startStackEdge(options, { port: 0, ...other }, common, issuer, notServing),
    start,
    kill,
    stop: async () => {
      await Promise.all(instances.map(({ name, replica }) => kill(name, "SIGTERM", replica)));
      for (const close of closers.reverse()) await close();
    },
  };
}

/** The edge runs in this process; its log goes where the services' logs go. */
async function startStackEdge(
  options: StackOptions,
  edge: EdgeOptions,
  env: Record<string, string>,
  issuer: DevIssuer | undefined,
  notServing: () => Promise<string[]>,
): Promise<RunningEdge> {
  const auth = parseAuthConfig(env);
  const pageAuth: JsonObject =
    edge.pageAuth ??
    (options.auth
      ? { mode: "auth0", domain: new URL(auth.issuer).host, clientId: options.auth.spaClientId ?? "", audience: auth.audience }
      : { mode: "dev", tokenUrl: `${issuer!.issuer}dev/token` });
  const registry = loadRegistry(await readFile(join(REPO_ROOT, "gen", "descriptor-set.binpb")));
  const destination = options.logs === "files" ? pino.destination({ dest: join(options.dataDir, "logs", "edge.log"), mkdir: true, sync: false }) : undefined;
  const running = await startEdge({
    host: "127.0.0.1",
    port: edge.port ?? (options.defaultPorts ? 8080 : 0),
    registry,
    upstreams: {
      "cfs.chunker.v1.ChunkerService": env.CFS_CHUNKER_ADDR!,
      "cfs.metadata.v1.MetadataService": env.CFS_METADATA_ADDR!,
      "cfs.metadata.v1.AppPasswordService": env.CFS_METADATA_ADDR!,
      "cfs.sync.v1.SyncService": env.CFS_SYNC_ADDR!,
    },
    auth,
    corsOrigins: edge.corsOrigins ?? [],
    webRoot: edge.webRoot,
    pageConfig: { apiBaseUrl: "", auth: pageAuth },
    openApiDocument: await readFile(join(REPO_ROOT, "gen", "openapi.json"), "utf8"),
    bodyLimits: edge.bodyLimits ?? parseStreamLimits(env),
    maxRequestMs: parseCallCaps(env).streamMs,
    dav: { prefix: "/dav/", upstream: `http://${env.CFS_WEBDAV_ADDR!}` },
    notServing,
    log: createLogger("edge", "info", destination),
  }).catch((err: unknown) => {
    destination?.end();
    throw err;
  });
  // The log file is the edge's: flushed and closed with it.
  return {
    ...running,
    close: async () => {
      await running.close();
      if (destination) {
        const closed = new Promise((resolve) => destination.once("close", resolve));
        destination.end();
        await closed;
      }
    },
  };
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Whether the service answers ready on address: /readyz for HTTP, grpc.health.v1 for its own service name otherwise. */
function ready(name: ServiceName, address: string): Promise<boolean> {
  return isHttp(name) ? httpReady(address) : grpcServing(address, HEALTH_SERVICE[name]);
}

function httpReady(address: string): Promise<boolean> {
  return fetch(`http://${address}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => r.ok,
    () => false,
  );
}

type HealthClient = grpc.Client & {
  check(
    request: { service: string },
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, response?: { status?: string }) => void,
  ): void;
};

/** grpc.health.v1 says SERVING for `service` (a fresh channel each time: a reused one may be backing off from a restart). */
async function grpcServing(address: string, service: string): Promise<boolean> {
  const Client = grpc.makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as HealthClient;
  try {
    return await new Promise<boolean>((resolve) =>
      client.check({ service }, { deadline: Date.now() + 1000 }, (err, res) => resolve(!err && res?.status === "SERVING")),
    );
  } finally {
    client.close();
  }
}

/** Waits until the service answers ready, or fails if it exits. */
async function waitReady(key: string, name: ServiceName, address: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (hasExited(child)) throw new Error(`${key} exited ${child.signalCode ? `by ${child.signalCode}` : `with code ${child.exitCode}`} while starting`);
    if (await ready(name, address)) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${key} was not ready on ${address} within ${timeoutMs} ms`);
}
