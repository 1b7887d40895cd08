import { SyncServiceService } from "../../../gen/cfs/sync/v1/sync.js";
import { ConfigError } from "../../../lib/config.js";
import { service } from "../../../lib/grpc-server.js";
import { createLogger } from "../../../lib/logger.js";
import { Metrics } from "../../../lib/metrics.js";
import { runService } from "../../../lib/service.js";
import { SqliteSyncEventStore } from "./adapters/sqlite-sync-event-store.js";
import { parseConfig } from "./config.js";
import { SyncEvents } from "./domain/sync-events.js";
import { notifyOnInsert, startChangeFeed } from "./feed/index.js";
import { createHandlers } from "./server.js";

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger("sync", config.server.logLevel);
  const store = SqliteSyncEventStore.open(config.databasePath);
  log.info({ databasePath: config.databasePath }, "sync database ready");
  const metrics = new Metrics("sync");
  const changes = startChangeFeed({ databasePath: config.databasePath, retentionDays: config.retentionDays, registry: metrics.registry, log });
  // WatchChanges streams never end by themselves: end them as shutdown begins (registered before runService's handler).
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, changes.endStreams);

  await runService({
    log,
    server: config.server,
    auth: config.auth,
    metrics,
    services: [service("cfs.sync.v1.SyncService", SyncServiceService, createHandlers(new SyncEvents(notifyOnInsert(store, changes.feed)), changes.feed))],
    checks: [{ name: "sqlite", check: () => store.ping() }],
    closers: [
      { name: "change feed", close: changes.close },
      { name: "sqlite", close: () => store.close() },
    ],
  });
}

main().catch((err: unknown) => {
  createLogger("sync").fatal({ err }, err instanceof ConfigError ? "invalid configuration" : "failed to start");
  process.exit(1);
});
