import { DEFAULT_APP_TOKEN_ISSUER, parseAuthConfig, parseServiceCredentials, type AuthConfig, type ServiceCredentialsConfig } from "#lib/auth.js";
import { bool, deepFreeze, int, optionalStr, port, str, url, type Env } from "#lib/config.js";
import { parseServerConfig, type ServerConfig } from "#lib/service.js";
import type { CatalogueRules } from "./domain/types.js";

export interface MetadataConfig {
  server: ServerConfig;
  auth: AuthConfig;
  /** The client-credentials grant the collector and the outbox relay act with. */
  serviceCredentials: ServiceCredentialsConfig;
  database: {
    /** Required: without a catalogue there is no service. */
    url: string;
    /** 1 on PGlite (one query at a time). */
    poolMax: number;
    /**
     * Statements prepared once per connection (lib/pg-statements.ts); off on
     * PGlite (one session for every connection) and behind a pooler in
     * transaction mode that does not keep them (PgBouncer before 1.21).
     */
    preparedStatements: boolean;
  };
  blockStorageAddress: string;
  syncAddress: string;
  gc: {
    /** Queued chunks younger than this are never deleted (see ChunkCollector). */
    graceSeconds: number;
    intervalMs: number;
    /** Failed runs back off exponentially up to this (or the interval, if longer). */
    maxBackoffMs: number;
    batchSize: number;
    /** The sweep of block storage against every reference (domain/sweep.ts). */
    sweep: { intervalMs: number; dryRun: boolean };
  };
  /** How often block storage's quarantine is read for new damage (domain/damage-reports.ts). */
  damageReports: { intervalMs: number };
  uploads: {
    /** An upload session lasts this long from its start (CFS_UPLOAD_SESSION_TTL_SECONDS). */
    sessionTtlSeconds: number;
    /** Idempotency keys are kept this long: never less than a session lives. */
    commitKeySeconds: number;
    /** How often expired sessions and keys are cleared. */
    intervalMs: number;
  };
  /** Trash, version retention and quotas (issue 11). */
  catalogue: {
    rules: CatalogueRules;
    /** CFS_TRASH_RETENTION_DAYS: files stay in the trash this long. */
    trashRetentionDays: number;
    /** How often the retention sweep runs (CFS_RETENTION_INTERVAL_MS). */
    retentionIntervalMs: number;
  };
  outbox: {
    intervalMs: number;
    /** Failed relays back off exponentially up to this. */
    maxBackoffMs: number;
    batchSize: number;
  };
  /** The app-token issuer this process runs (AppPasswordService.ExchangeAppPassword). */
  appTokens: {
    issuer: string;
    /** Lifetime of an exchanged token: how long a revoked app password's open sessions last at most. */
    ttlSeconds: number;
    /** PEM EC P-256 private key; unset: a key of this process only (one replica). */
    keyFile: string | undefined;
    /** HTTP port of the issuer's JWKS (GET /.well-known/jwks.json). */
    jwksPort: number;
  };
  /**
   * The key block storage signs its chunk receipts with
   * (lib/chunk-receipts.ts), in a file; unset: receipts are not taken and
   * every commit asks block storage.
   */
  chunkReceiptKeyFile: string | undefined;
}

/**
 * CFS_MIGRATE_ONLY=true: apply the schema migrations and exit (the chart's
 * migration Job). It needs only the database settings, no auth or peers.
 */
export function isMigrateOnly(env: Env): boolean {
  return bool(env, "CFS_MIGRATE_ONLY", false);
}

export interface MigrationConfig {
  database: MetadataConfig["database"];
  logLevel: string;
}

export function parseMigrationConfig(env: Env): Readonly<MigrationConfig> {
  return deepFreeze({ database: parseDatabase(env), logLevel: str(env, "CFS_LOG_LEVEL", "info") });
}

function parseDatabase(env: Env): MetadataConfig["database"] {
  return {
    url: url(env, "CFS_DATABASE_URL"),
    poolMax: int(env, "CFS_DATABASE_POOL_MAX", 10, 1, 1000),
    preparedStatements: bool(env, "CFS_DATABASE_PREPARED_STATEMENTS", true),
  };
}

export function parseConfig(env: Env): Readonly<MetadataConfig> {
  const auth = parseAuthConfig(env);
  return deepFreeze({
    server: parseServerConfig(env, 8000, 9100),
    auth,
    serviceCredentials: parseServiceCredentials(env, auth),
    database: parseDatabase(env),
    blockStorageAddress: str(env, "CFS_BLOCKSTORE_ADDR", "localhost:8003"),
    syncAddress: str(env, "CFS_SYNC_ADDR", "localhost:8001"),
    gc: {
      graceSeconds: int(env, "CFS_GC_GRACE_SECONDS", 3600),
      intervalMs: int(env, "CFS_GC_INTERVAL_MS", 60_000, 10),
      maxBackoffMs: 30_000,
      batchSize: 1000,
      sweep: {
        // At most 7 days: orphans of crashed uploads should not stay stored for weeks.
        intervalMs: int(env, "CFS_GC_SWEEP_INTERVAL_SECONDS", 6 * 3600, 1, 7 * 86_400) * 1000,
        dryRun: bool(env, "CFS_GC_SWEEP_DRY_RUN", false),
      },
    },
    damageReports: {
      intervalMs: int(env, "CFS_DAMAGE_REPORT_INTERVAL_SECONDS", 30, 1, 86_400) * 1000,
    },
    uploads: uploadsConfig(env),
    catalogue: {
      rules: {
        defaultQuotaBytes: int(env, "CFS_DEFAULT_QUOTA_BYTES", 0),
        versionsMax: int(env, "CFS_VERSIONS_MAX", 100, 1, 100_000),
        versionsMaxAgeDays: int(env, "CFS_VERSIONS_MAX_AGE_DAYS", 180, 0, 100_000),
      },
      trashRetentionDays: int(env, "CFS_TRASH_RETENTION_DAYS", 30, 0, 100_000),
      retentionIntervalMs: int(env, "CFS_RETENTION_INTERVAL_MS", 3_600_000, 10),
    },
    outbox: {
      intervalMs: int(env, "CFS_OUTBOX_INTERVAL_MS", 1000, 10),
      maxBackoffMs: 30_000,
      batchSize: 100,
    },
    appTokens: {
      issuer: str(env, "CFS_APP_TOKEN_ISSUER", DEFAULT_APP_TOKEN_ISSUER),
      ttlSeconds: int(env, "CFS_APP_TOKEN_TTL_SECONDS", 300, 30, 3600),
      keyFile: optionalStr(env, "CFS_APP_TOKEN_KEY_FILE"),
      jwksPort: port(env, "CFS_APP_TOKEN_JWKS_PORT", 8004),
    },
    chunkReceiptKeyFile: optionalStr(env, "CFS_CHUNK_RECEIPT_KEY_FILE"),
  });
}

const DAY_SECONDS = 24 * 60 * 60;

function uploadsConfig(env: Env): MetadataConfig["uploads"] {
  const sessionTtlSeconds = int(env, "CFS_UPLOAD_SESSION_TTL_SECONDS", DAY_SECONDS, 60, 30 * DAY_SECONDS);
  return {
    sessionTtlSeconds,
    commitKeySeconds: Math.max(DAY_SECONDS, sessionTtlSeconds),
    intervalMs: int(env, "CFS_UPLOAD_SESSION_SWEEP_MS", 60_000, 10),
  };
}
