import type { Logger } from "pino";
import { createTokenVerifier, type AuthConfig } from "./auth.js";
import type { CallCaps } from "./call-lifetime.js";
import { type Env, int, port, str } from "./config.js";
import { bindServer, createGrpcServer, type ServiceRegistration } from "./grpc-server.js";
import { Health, type DependencyCheck } from "./health.js";
import { Metrics } from "./metrics.js";
import { parseStreamLimits, type StreamLimits } from "./stream-guard.js";
import { installShutdown } from "./shutdown.js";

/** Listener and transport settings shared by every cfs service. */
export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly logLevel: string;
  readonly maxMessageBytes: number;
  readonly flowControlWindowBytes: number;
  readonly shutdownGraceMs: number;
  readonly callCaps: CallCaps;
  readonly requestStreamLimits: StreamLimits;
  readonly maxConnectionAgeMs: number;
}

/**
 * CFS_HOST (default 127.0.0.1; containers set 0.0.0.0), CFS_PORT,
 * CFS_METRICS_PORT, CFS_LOG_LEVEL, CFS_MAX_MESSAGE_BYTES,
 * CFS_FLOW_CONTROL_WINDOW_BYTES, CFS_SHUTDOWN_GRACE_MS, and the longest a
 * call may run whatever deadline its client set: CFS_MAX_CALL_SECONDS for
 * unary calls (default 60 s: the longest is a commit of a 64 GiB file's chunk
 * list), CFS_MAX_STREAM_SECONDS for streams (default 24 h: a 64 GiB upload at
 * 1 MB/s; slow clients are cut off long before by the stream limits), and
 * those limits for uploads (parseStreamLimits: CFS_STREAM_*), and
 * CFS_MAX_CONNECTION_AGE_SECONDS (300): clients reconnect, and so reach
 * replicas started since.
 */
export function parseServerConfig(env: Env, defaultPort: number, defaultMetricsPort: number): ServerConfig {
  return {
    host: str(env, "CFS_HOST", "127.0.0.1"),
    port: port(env, "CFS_PORT", defaultPort),
    metricsPort: port(env, "CFS_METRICS_PORT", defaultMetricsPort),
    logLevel: str(env, "CFS_LOG_LEVEL", "info"),
    maxMessageBytes: int(env, "CFS_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, 1024 * 1024 + 4096),
    flowControlWindowBytes: int(env, "CFS_FLOW_CONTROL_WINDOW_BYTES", 4 * 1024 * 1024, 65_535, 2 ** 31 - 1),
    shutdownGraceMs: int(env, "CFS_SHUTDOWN_GRACE_MS", 20_000),
    callCaps: parseCallCaps(env),
    requestStreamLimits: parseStreamLimits(env),
    maxConnectionAgeMs: int(env, "CFS_MAX_CONNECTION_AGE_SECONDS", 300, 1) * 1000,
  };
}

/** CFS_MAX_CALL_SECONDS and CFS_MAX_STREAM_SECONDS (see parseServerConfig); the edge reads them too. */
export function parseCallCaps(env: Env): CallCaps {
  return {
    unaryMs: int(env, "CFS_MAX_CALL_SECONDS", 60, 1, 86_400) * 1000,
    // setTimeout's limit is ~24.8 days.
    streamMs: int(env, "CFS_MAX_STREAM_SECONDS", 86_400, 1, 7 * 86_400) * 1000,
  };
}

export interface ServiceSpec {
  log: Logger;
  server: ServerConfig;
  auth: AuthConfig;
  metrics: Metrics;
  services: readonly ServiceRegistration<unknown>[];
  checks: readonly DependencyCheck[];
  /** Closed in order after the server drained. */
  closers: ReadonlyArray<{ name: string; close: () => Promise<void> | void }>;
}

export interface RunningService {
  port: number;
  metricsPort: number;
  stop: () => Promise<void>;
}

/** Starts the gRPC server, health, metrics endpoint and graceful shutdown. */
export async function runService(spec: ServiceSpec): Promise<RunningService> {
  const { log, server: config } = spec;
  const health = new Health(
    spec.services.map((s) => s.name),
    spec.checks,
    log,
  );
  const server = createGrpcServer(spec.services, {
    log,
    metrics: spec.metrics,
    health,
    verifyToken: createTokenVerifier(spec.auth),
    maxReceiveMessageBytes: config.maxMessageBytes,
    flowControlWindowBytes: config.flowControlWindowBytes,
    callCaps: config.callCaps,
    requestStreamLimits: config.requestStreamLimits,
    maxConnectionAgeMs: config.maxConnectionAgeMs,
  });
  const boundPort = await bindServer(server, config.host, config.port);
  const metricsServer = await spec.metrics.serve(config.host, config.metricsPort);
  const address = metricsServer.address();
  const metricsPort = typeof address === "object" && address ? address.port : config.metricsPort;
  await health.start();
  const stop = installShutdown({
    server,
    health,
    log,
    graceMs: config.shutdownGraceMs,
    closers: [
      ...spec.closers,
      { name: "metrics", close: () => new Promise<void>((resolve) => metricsServer.close(() => resolve())) },
    ],
  });
  log.info({ host: config.host, port: boundPort, metricsPort }, "listening");
  return { port: boundPort, metricsPort, stop };
}
