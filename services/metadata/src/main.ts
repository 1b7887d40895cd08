import { randomUUID } from "node:crypto";
import { AppPasswordServiceService } from "#gen/cfs/metadata/v1/app_passwords.js";
import { DavStateServiceService } from "#gen/cfs/metadata/v1/dav_state.js";
import { MetadataServiceService } from "#gen/cfs/metadata/v1/metadata.js";
import { UploadSessionServiceService } from "#gen/cfs/metadata/v1/upload_sessions.js";
import { createServiceTokenSource } from "#lib/auth.js";
import { ConfigError } from "#lib/config.js";
import { peerChannelOptions, type ServiceIdentity } from "#lib/grpc-client.js";
import { service } from "#lib/grpc-server.js";
import { createLogger } from "#lib/logger.js";
import { Metrics } from "#lib/metrics.js";
import { runService } from "#lib/service.js";
import { GrpcChunkInventory } from "./adapters/grpc-block-storage.js";
import { GrpcEventSink } from "./adapters/grpc-sync.js";
import { JoseAppTokenSigner, loadAppTokenKey } from "./adapters/jose-app-token-signer.js";
import { serveJwks } from "./adapters/jwks-server.js";
import { PostgresAppPasswordStore } from "./adapters/postgres/app-password-store.js";
import { PostgresDavStateStore } from "./adapters/postgres/dav-state-store.js";
import { createDavStateHandlers } from "./dav-state-server.js";
import { DavState } from "./domain/dav-state.js";
import { PostgresCatalogueRetention } from "./adapters/postgres/catalogue-retention.js";
import { PostgresCatalogueStore } from "./adapters/postgres/catalogue-store.js";
import { PostgresCollectionQueue } from "./adapters/postgres/collection-queue.js";
import { createPool, PostgresDatabase } from "./adapters/postgres/database.js";
import { PostgresOutboxStore } from "./adapters/postgres/outbox-store.js";
import { OutboxMetrics } from "./adapters/prometheus-outbox-metrics.js";
import { SweepMetrics } from "./adapters/prometheus-sweep-metrics.js";
import { ReceiptMetrics } from "./adapters/prometheus-receipt-metrics.js";
import { ReceiptCheck } from "./domain/chunk-receipts.js";
import { loadReceiptKey } from "#lib/chunk-receipts.js";
import { StatementNames } from "#lib/pg-statements.js";
import { PostgresSweepReferences } from "./adapters/postgres/sweep-references.js";
import { ChunkSweep } from "./domain/sweep.js";
import { PostgresDamageLedger } from "./adapters/postgres/damage-ledger.js";
import { DamageReportMetrics } from "./adapters/prometheus-damage-metrics.js";
import { DamageReporter } from "./domain/damage-reports.js";
import { PostgresUploadSessionStore } from "./adapters/postgres/upload-session-store.js";
import { PostgresVerificationReads } from "./adapters/postgres/verification-reads.js";
import { BackgroundLoop } from "#lib/background-loop.js";
import { isMigrateOnly, parseConfig, parseMigrationConfig } from "./config.js";
import { Catalogue } from "./domain/catalogue.js";
import { ChunkRelease } from "./domain/chunk-release.js";
import { ChunkCollector } from "./domain/collector.js";
import { OutboxRelay } from "./domain/outbox-relay.js";
import { RetentionSweep } from "./domain/retention.js";
import { VerificationQueries } from "./domain/verification-queries.js";
import { UploadSessions } from "./domain/upload-sessions.js";
import { createHandlers, createUploadSessionHandlers } from "./server.js";
import { createAppPasswordHandlers } from "./app-password-server.js";
import { AppPasswords } from "./domain/app-passwords.js";

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger("metadata", config.server.logLevel);
  const pool = createPool({ url: config.database.url, max: config.database.poolMax }, log);
  const db = new PostgresDatabase(pool, log, config.database.preparedStatements ? new StatementNames() : undefined);
  await db.migrate();
  const gcQueue = new PostgresCollectionQueue(db);

  const peers = peerChannelOptions(config.server.maxMessageBytes, config.server.flowControlWindowBytes);
  const blocks = new GrpcChunkInventory(config.blockStorageAddress, peers);
  const sync = new GrpcEventSink(config.syncAddress, peers);
  const serviceToken = createServiceTokenSource(config.serviceCredentials);
  // Background work acts as the service itself; each batch gets its own request id for tracing.
  const serviceIdentity: ServiceIdentity = async (signal) => ({ token: await serviceToken(), requestId: randomUUID(), signal });

  const catalogueStore = new PostgresCatalogueStore(db);
  const sessionStore = new PostgresUploadSessionStore(db);
  const sessions = new UploadSessions(sessionStore, catalogueStore, blocks, config.uploads.sessionTtlSeconds, config.catalogue.rules);
  const retention = new RetentionSweep(
    new PostgresCatalogueRetention(db),
    { rules: config.catalogue.rules, trashRetentionDays: config.catalogue.trashRetentionDays, batchSize: 100 },
    log.child({ loop: "retention" }),
  );
  const collector = new ChunkCollector(gcQueue, blocks, serviceIdentity, config.gc, log.child({ loop: "gc" }));
  const metrics = new Metrics("metadata");
  const outbox = new PostgresOutboxStore(db);
  const outboxMetrics = new OutboxMetrics(metrics.registry, outbox, log);
  const relay = new OutboxRelay(outbox, sync, serviceIdentity, log.child({ loop: "outbox" }), {
    batchSize: config.outbox.batchSize,
    onSetAside: outboxMetrics.setAside,
  });
  const sweep = new ChunkSweep(
    blocks,
    new PostgresSweepReferences(db),
    serviceIdentity,
    { graceSeconds: config.gc.graceSeconds, dryRun: config.gc.sweep.dryRun, pageSize: 1000 },
    new SweepMetrics(metrics.registry),
    log.child({ loop: "sweep" }),
  );
  const damageReports = new DamageReporter(
    blocks,
    new PostgresDamageLedger(db),
    serviceIdentity,
    // Ten minutes back: far more than a quarantine takes to become visible or replicas' clocks drift.
    { pageSize: 1000, lookBackMs: 10 * 60_000 },
    new DamageReportMetrics(metrics.registry, log.child({ loop: "damage reports" })),
  );
  const loops = [
    new BackgroundLoop((signal) => collector.collectOnce(signal), {
      name: "gc",
      intervalMs: config.gc.intervalMs,
      maxBackoffMs: config.gc.maxBackoffMs,
      log,
    }),
    new BackgroundLoop(
      async () => {
        // Their chunks go to the collector, which keeps those a file uses.
        const expired = await sessionStore.deleteExpired(1000);
        const keys = await sessionStore.deleteCommitKeysOlderThan(config.uploads.commitKeySeconds, 1000);
        if (expired + keys > 0) log.info({ expiredSessions: expired, forgottenKeys: keys }, "expired upload sessions cleared");
        return expired === 1000 || keys === 1000;
      },
      { name: "upload sessions", intervalMs: config.uploads.intervalMs, maxBackoffMs: 60_000, log },
    ),
    new BackgroundLoop(() => retention.sweepOnce(), {
      name: "retention",
      intervalMs: config.catalogue.retentionIntervalMs,
      maxBackoffMs: 60_000,
      log,
    }),
    new BackgroundLoop((signal) => sweep.sweepOnce(signal), {
      name: "sweep",
      intervalMs: config.gc.sweep.intervalMs,
      maxBackoffMs: config.gc.sweep.intervalMs,
      log,
    }),
    new BackgroundLoop((signal) => damageReports.reportOnce(signal), {
      name: "damage reports",
      intervalMs: config.damageReports.intervalMs,
      maxBackoffMs: 5 * 60_000,
      log,
    }),
    new BackgroundLoop((signal) => relay.relayOnce(signal), {
      name: "outbox relay",
      intervalMs: config.outbox.intervalMs,
      maxBackoffMs: config.outbox.maxBackoffMs,
      log,
    }),
  ];

  // The app-token issuer: its keys are served before the gRPC server starts,
  // so that this process can verify its own tokens from the first call.
  const receiptKey = await loadReceiptKey(config.chunkReceiptKeyFile);
  const appTokenKey = await loadAppTokenKey(config.appTokens.keyFile);
  if (!config.appTokens.keyFile) log.warn("CFS_APP_TOKEN_KEY_FILE is not set: app-password sessions are signed with a key of this process (one replica only)");
  const jwksServer = await serveJwks(config.server.host, config.appTokens.jwksPort, [appTokenKey.publicJwk]);
  const appPasswords = new AppPasswords(
    new PostgresAppPasswordStore(db),
    new JoseAppTokenSigner(appTokenKey, { issuer: config.appTokens.issuer, audience: config.auth.audience, ttlSeconds: config.appTokens.ttlSeconds }),
  );

  await runService({
    log,
    server: config.server,
    auth: config.auth,
    metrics,
    services: [
      service(
        "cfs.metadata.v1.MetadataService",
        MetadataServiceService,
        createHandlers({
          catalogue: new Catalogue(catalogueStore, blocks, config.catalogue.rules, new ReceiptCheck(receiptKey, new ReceiptMetrics(metrics.registry, log))),
          release: new ChunkRelease(gcQueue),
          verification: new VerificationQueries(new PostgresVerificationReads(db)),
        }),
      ),
      service("cfs.metadata.v1.AppPasswordService", AppPasswordServiceService, createAppPasswordHandlers(appPasswords)),
      service("cfs.metadata.v1.DavStateService", DavStateServiceService, createDavStateHandlers(new DavState(new PostgresDavStateStore(db)))),
      service("cfs.metadata.v1.UploadSessionService", UploadSessionServiceService, createUploadSessionHandlers(sessions)),
    ],
    checks: [{ name: "database", check: () => db.ping() }],
    closers: [
      {
        name: "background loops",
        close: async () => {
          await Promise.all(loops.map((l) => l.stop()));
        },
      },
      { name: "block-storage client", close: () => blocks.close() },
      { name: "sync client", close: () => sync.close() },
      { name: "database pool", close: () => pool.end() },
      { name: "app-token JWKS", close: () => new Promise<void>((resolve) => jwksServer.close(() => resolve())) },
    ],
  });
  for (const loop of loops) loop.start();
}

/** Applies the migrations (under the repository's advisory lock) and returns. */
async function migrateOnly(): Promise<void> {
  const config = parseMigrationConfig(process.env);
  const log = createLogger("metadata", config.logLevel);
  const pool = createPool({ url: config.database.url, max: config.database.poolMax }, log);
  try {
    await new PostgresDatabase(pool, log).migrate();
    log.info("migrations applied");
  } finally {
    await pool.end();
  }
}

(isMigrateOnly(process.env) ? migrateOnly() : main()).catch((err: unknown) => {
  createLogger("metadata").fatal({ err }, err instanceof ConfigError ? "invalid configuration" : "failed to start");
  process.exit(1);
});
