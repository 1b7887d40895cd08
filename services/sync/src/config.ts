import { join, resolve } from "node:path";
import { parseAuthConfig, parseServiceCredentials, type AuthConfig, type ServiceCredentialsConfig } from "#lib/auth.js";
import { deepFreeze, int, optionalStr, str, type Env } from "#lib/config.js";
import { parseServerConfig, type ServerConfig } from "#lib/service.js";

export interface SyncConfig {
  server: ServerConfig;
  auth: AuthConfig;
  /** The client-credentials grant background verification acts with. */
  serviceCredentials: ServiceCredentialsConfig;
  /** Absolute path of the SQLite database file. */
  databasePath: string;
  /** Events older than this many days are pruned (CFS_SYNC_RETENTION_DAYS, default 30); older feed cursors fail. */
  retentionDays: number;
  metadataAddress: string;
  blockStorageAddress: string;
  verification: {
    /** Pause between runs while nothing is due. */
    intervalMs: number;
    /** Chunks downloaded and re-hashed per upload/update (first + random); 0 disables. */
    sampleChunks: number;
    /** Attempts before an event that keeps failing transiently is failed for good. */
    maxAttempts: number;
    /** First retry delay, doubling per attempt up to maxBackoffMs. */
    retryBaseMs: number;
    maxBackoffMs: number;
    /** Events verified at once. */
    concurrency: number;
  };
}

/**
 * CFS_SYNC_DB_PATH (default $CFS_DATA_DIR/sync.db, CFS_DATA_DIR defaulting
 * to ./.data), CFS_METADATA_ADDR, CFS_BLOCKSTORE_ADDR, the service identity
 * (CFS_SERVICE_*), and verification: CFS_VERIFY_INTERVAL_MS (500),
 * CFS_VERIFY_SAMPLE_CHUNKS (2), CFS_VERIFY_MAX_ATTEMPTS (8),
 * CFS_VERIFY_RETRY_BASE_MS (1000), CFS_VERIFY_CONCURRENCY (16).
 */
export function parseConfig(env: Env): Readonly<SyncConfig> {
  const dataDir = str(env, "CFS_DATA_DIR", "./.data");
  const auth = parseAuthConfig(env);
  return deepFreeze({
    server: parseServerConfig(env, 8001, 9101),
    auth,
    serviceCredentials: parseServiceCredentials(env, auth),
    // Resolved once so logs show where the data really is.
    databasePath: resolve(optionalStr(env, "CFS_SYNC_DB_PATH") ?? join(dataDir, "sync.db")),
    retentionDays: int(env, "CFS_SYNC_RETENTION_DAYS", 30, 1, 36_500),
    metadataAddress: str(env, "CFS_METADATA_ADDR", "localhost:8000"),
    blockStorageAddress: str(env, "CFS_BLOCKSTORE_ADDR", "localhost:8003"),
    verification: {
      intervalMs: int(env, "CFS_VERIFY_INTERVAL_MS", 500, 10),
      sampleChunks: int(env, "CFS_VERIFY_SAMPLE_CHUNKS", 2, 0, 1000),
      maxAttempts: int(env, "CFS_VERIFY_MAX_ATTEMPTS", 8, 1, 1000),
      retryBaseMs: int(env, "CFS_VERIFY_RETRY_BASE_MS", 1000, 10),
      maxBackoffMs: 300_000,
      concurrency: int(env, "CFS_VERIFY_CONCURRENCY", 16, 1, 64),
    },
  });
}
