import { randomUUID } from "node:crypto";
import { SyncServiceService } from "#gen/cfs/sync/v1/sync.js";
import { createServiceTokenSource } from "#lib/auth.js";
import { ConfigError } from "#lib/config.js";
import { peerChannelOptions, type ServiceIdentity } from "#lib/grpc-client.js";
import { service } from "#lib/grpc-server.js";
import { createLogger } from "#lib/logger.js";
import { Metrics } from "#lib/metrics.js";
import { runService } from "#lib/service.js";
import { GrpcChunkStorage } from "./adapters/grpc-block-storage.js";
import { GrpcCatalogueInspector } from "./adapters/grpc-metadata.js";
import { VerificationMetrics } from "./adapters/prometheus-verification-metrics.js";
import { SqliteSyncEventStore } from "./adapters/sqlite-sync-event-store.js";
import { BackgroundLoop } from "#lib/background-loop.js";
import { parseConfig } from "./config.js";
import { SyncEvents } from "./domain/sync-events.js";
import { DamageProbe } from "./domain/file-damage.js";
import { BatchedChunkReads } from "./domain/chunk-read-batches.js";
import { BatchedInspections } from "./domain/inspection-batches.js";
import { Verifier, VerificationWorker } from "./domain/verifier.js";
import { notifyOnInsert, startChangeFeed } from "./feed/index.js";
import { createHandlers } from "./server.js";

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger("sync", config.server.logLevel);
  const store = SqliteSyncEventStore.open(config.databasePath);
  log.info({ databasePath: config.databasePath }, "sync database ready");
  const metrics = new Metrics("sync");

  // Background verification: reads metadata and block storage as the service itself.
  const peers = peerChannelOptions(config.server.maxMessageBytes, config.server.flowControlWindowBytes);
  const catalogue = new GrpcCatalogueInspector(config.metadataAddress, peers);
  const blocks = new GrpcChunkStorage(config.blockStorageAddress, peers);
  const serviceToken = createServiceTokenSource(config.serviceCredentials);
  // Each run gets its own request id, so peers' logs tie back to it.
  const serviceIdentity: ServiceIdentity = async (signal) => ({ token: await serviceToken(), requestId: randomUUID(), signal });
  // The events of a run are inspected together (one InspectFileVersions call) and their samples read together (one ReadChunks stream per owner).
  const verifier = new Verifier(new BatchedInspections(catalogue), new BatchedChunkReads(blocks), store, { sampleChunks: config.verification.sampleChunks });
  const worker = new VerificationWorker(
    store,
    verifier,
    serviceIdentity,
    new VerificationMetrics(metrics.registry, store, log),
    log.child({ loop: "verification" }),
    config.verification,
  );
  // Before the first run: events a crashed predecessor left processing are taken again.
  await worker.recover();
  const verification = new BackgroundLoop((signal) => worker.runOnce(signal), {
    name: "verification",
    intervalMs: config.verification.intervalMs,
    maxBackoffMs: 30_000,
    log,
  });

  // GetFileSyncStatus of a file whose first event is still on its way: ask metadata.
  const committed = {
    isCommitted: async (owner: string, fileId: string) => (await catalogue.inspectFileVersion(owner, fileId, 0, await serviceIdentity())) !== undefined,
  };

  const changes = startChangeFeed({ databasePath: config.databasePath, retentionDays: config.retentionDays, registry: metrics.registry, log });
  // WatchChanges streams never end by themselves: end them as shutdown begins (registered before runService's handler).
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, changes.endStreams);

  await runService({
    log,
    server: config.server,
    auth: config.auth,
    metrics,
    services: [service("cfs.sync.v1.SyncService", SyncServiceService, createHandlers(new SyncEvents(notifyOnInsert(store, changes.feed), committed, new DamageProbe(catalogue, blocks, serviceIdentity)), changes.feed))],
    // Only SQLite: listing and recording work without the peers, and
    // verification waits for them by itself (retries with backoff).
    checks: [{ name: "sqlite", check: () => store.ping() }],
    closers: [
      // The run in progress settles (its calls cancelled, what it finished written) before SQLite closes.
      { name: "verification loop", close: () => verification.stop() },
      { name: "metadata client", close: () => catalogue.close() },
      { name: "block-storage client", close: () => blocks.close() },
      { name: "change feed", close: changes.close },
      { name: "sqlite", close: () => store.close() },
    ],
  });
  verification.start();
}

main().catch((err: unknown) => {
  createLogger("sync").fatal({ err }, err instanceof ConfigError ? "invalid configuration" : "failed to start");
  process.exit(1);
});
