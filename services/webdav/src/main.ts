import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { Counter, Histogram } from "prom-client";
import { createServiceTokenSource, createTokenVerifier } from "#lib/auth.js";
import { ConfigError } from "#lib/config.js";
import { peerChannelOptions, waitForReady } from "#lib/grpc-client.js";
import { createLogger } from "#lib/logger.js";
import { Metrics } from "#lib/metrics.js";
import { GrpcCredentialExchange } from "./adapters/grpc-app-passwords.js";
import { GrpcDavState } from "./adapters/grpc-dav-state.js";
import { GrpcFileCatalogue, GrpcFileContent } from "./adapters/grpc-files.js";
import { parseConfig } from "./config.js";
import { Authenticator } from "./domain/authenticator.js";
import { DavPaths } from "./domain/paths.js";
import { FailedLoginLimiter } from "./domain/rate-limit.js";
import { createDavHandler } from "./server.js";

/**
 * The WebDAV service: HTTP on CFS_PORT (the gateways route /dav/ here),
 * /healthz (liveness) and /readyz (chunker and metadata reachable), and
 * Prometheus metrics on CFS_METRICS_PORT.
 */
async function main(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger("webdav", config.server.logLevel);
  const peers = peerChannelOptions(config.server.maxMessageBytes, config.server.flowControlWindowBytes);
  const files = new GrpcFileCatalogue(config.metadataAddress, peers);
  const content = new GrpcFileContent(config.chunkerAddress, peers);
  const state = new GrpcDavState(config.metadataAddress, peers);
  const serviceToken = createServiceTokenSource(config.serviceCredentials);
  const exchange = new GrpcCredentialExchange(config.metadataAddress, peers, async () => ({ token: await serviceToken(), requestId: randomUUID() }));
  const metrics = new Metrics("webdav");
  const requests = new Counter({ name: "cfs_webdav_requests_total", help: "WebDAV requests by method and HTTP status.", labelNames: ["method", "status"], registers: [metrics.registry] });
  const duration = new Histogram({
    name: "cfs_webdav_request_seconds",
    help: "Time from a WebDAV request's start to its end.",
    labelNames: ["method"],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers: [metrics.registry],
  });

  const dav = createDavHandler({
    paths: new DavPaths(config.prefix),
    files,
    content,
    state,
    authenticator: new Authenticator(createTokenVerifier(config.auth), exchange, new FailedLoginLimiter(config.loginLimits), config.credentialCacheSeconds * 1000),
    log,
    observe: (method, status, seconds) => {
      requests.inc({ method, status: String(status) });
      duration.observe({ method }, seconds);
    },
    lockTimeouts: config.lockTimeouts,
    maxXmlBytes: config.maxXmlBytes,
    trustForwardedFor: config.trustForwardedFor,
  });

  let stopping = false;
  const server = createServer((req, res) => {
    if (req.url === "/healthz") return void res.writeHead(stopping ? 503 : 200, { "content-type": "text/plain" }).end(stopping ? "stopping\n" : "ok\n");
    if (req.url === "/readyz") {
      if (stopping) return void res.writeHead(503, { "content-type": "text/plain" }).end("stopping\n");
      Promise.all([waitForReady(files.client), waitForReady(content.client)]).then(
        () => res.writeHead(200, { "content-type": "text/plain" }).end("ok\n"),
        (err: Error) => res.writeHead(503, { "content-type": "text/plain" }).end(`not ready: ${err.message}\n`),
      );
      return;
    }
    dav(req, res);
  });
  server.headersTimeout = 20_000;
  // Big files take as long as they take; a stalled connection ends after the idle timeout.
  server.requestTimeout = 0;
  server.timeout = 5 * 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.server.port, config.server.host, resolve);
  });
  const metricsServer = await metrics.serve(config.server.host, config.server.metricsPort);
  log.info({ host: config.server.host, port: config.server.port, prefix: config.prefix }, "listening");

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down: draining in-flight requests");
    const timer = setTimeout(() => server.closeAllConnections(), config.server.shutdownGraceMs);
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    clearTimeout(timer);
    for (const client of [files, content, state, exchange]) client.close();
    await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
    log.info("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", (s) => void stop(s));
  process.once("SIGINT", (s) => void stop(s));
}

main().catch((err: unknown) => {
  createLogger("webdav").fatal({ err }, err instanceof ConfigError ? "invalid configuration" : "failed to start");
  process.exit(1);
});
