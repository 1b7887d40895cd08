import { join, resolve } from "node:path";
import { parseAuthConfig, type AuthConfig } from "../../../lib/auth.js";
import { deepFreeze, int, optionalStr, str, type Env } from "../../../lib/config.js";
import { parseServerConfig, type ServerConfig } from "../../../lib/service.js";

export interface SyncConfig {
  server: ServerConfig;
  auth: AuthConfig;
  /** Absolute path of the SQLite database file. */
  databasePath: string;
  /** Events older than this many days are pruned (CFS_SYNC_RETENTION_DAYS, default 30); older feed cursors fail. */
  retentionDays: number;
}

/** CFS_SYNC_DB_PATH (default $CFS_DATA_DIR/sync.db, CFS_DATA_DIR defaulting to ./.data). */
export function parseConfig(env: Env): Readonly<SyncConfig> {
  const dataDir = str(env, "CFS_DATA_DIR", "./.data");
  return deepFreeze({
    server: parseServerConfig(env, 8001, 9101),
    auth: parseAuthConfig(env),
    // Resolved once so logs show where the data really is.
    databasePath: resolve(optionalStr(env, "CFS_SYNC_DB_PATH") ?? join(dataDir, "sync.db")),
    retentionDays: int(env, "CFS_SYNC_RETENTION_DAYS", 30, 1, 36_500),
  });
}
