import { SyncServiceService } from "../../../gen/cfs/sync/v1/sync.js";
import { ConfigError } from "../../../lib/config.js";
import { service } from "../../../lib/grpc-server.js";
import { createLogger } from "../../../lib/logger.js";
import { Metrics } from "../../../lib/metrics.js";
import { runService } from "../../../lib/service.js";
import { SqliteSyncEventStore } from "./adapters/sqlite-sync-event-store.js";
import { parseConfig } from "./config.js";
import { SyncEvents } from "./domain/sync-events.js";
import { createHandlers } from "./server.js";

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger("sync", config.server.logLevel);
  const store = SqliteSyncEventStore.open(config.databasePath);
  log.info({ databasePath: config.databasePath }, "sync database ready");

  await runService({
    log,
    server: config.server,
    auth: config.auth,
    metrics: new Metrics("sync"),
    services: [service("cfs.sync.v1.SyncService", SyncServiceService, createHandlers(new SyncEvents(store)))],
    checks: [{ name: "sqlite", check: () => store.ping() }],
    closers: [{ name: "sqlite", close: () => store.close() }],
  });
}

main().catch((err: unknown) => {
  createLogger("sync").fatal({ err }, err instanceof ConfigError ? "invalid configuration" : "failed to start");
  process.exit(1);
});
