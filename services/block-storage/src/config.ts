import { join, resolve } from "node:path";
import { parseAuthConfig, type AuthConfig } from "#lib/auth.js";
import { ConfigError, bool, deepFreeze, int, optionalStr, str, url, type Env } from "#lib/config.js";
import { MAX_CHUNK_BYTES } from "#lib/limits.js";
import { parseServerConfig, type ServerConfig } from "#lib/service.js";
import type { PackedStoreLimits } from "./domain/packed-chunk-store.js";
import type { RepackSettings } from "./domain/repacker.js";
import type { ScrubSettings } from "./domain/scrubber.js";

/** Where chunks are kept. */
export type StorageConfig =
  | { kind: "disk"; root: string }
  | { kind: "s3"; endpoint: string; accessKey: string; secretKey: string; bucket: string; region: string; packs?: PackConfig };

/** Chunks packed into larger objects, with their index in PostgreSQL (ports/pack-index.ts). */
export interface PackConfig {
  /** preparedStatements: see PostgresPackIndexOptions. */
  index: { url: string; poolMax: number; preparedStatements: boolean };
  limits: PackedStoreLimits;
  repack: RepackSettings & { intervalMs: number };
}

export interface BlockStorageConfig {
  server: ServerConfig;
  auth: AuthConfig;
  /** Largest chunk accepted (at most lib/limits MAX_CHUNK_BYTES, what the chunker may cut). */
  maxChunkBytes: number;
  /** Chunks of one PutChunks stream being written while the next arrive. */
  writesInFlight: number;
  /**
   * Chunks of one ReadChunks stream read ahead of the one being sent; with
   * packs, the longest run of them read by one GET (two runs are held).
   */
  readsAhead: number;
  storage: StorageConfig;
  scrub: ScrubSettings;
  /**
   * The key chunk receipts are signed with (lib/chunk-receipts.ts), in a
   * file metadata reads too; unset: PutChunks gives no receipt.
   */
  chunkReceiptKeyFile: string | undefined;
}

const MiB = 1024 * 1024;
/** S3 bucket naming rules (lowercase, digits, dots, hyphens; 3 to 63 characters). */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * CFS_MAX_CHUNK_BYTES (lib/limits MAX_CHUNK_BYTES, also its upper bound),
 * CFS_STORE_WRITES_IN_FLIGHT (4; 16 when packing) and CFS_STORE_READS_AHEAD (4) per stream; CFS_S3_ENDPOINT unset keeps chunks on disk
 * under $CFS_DATA_DIR/blocks (CFS_DATA_DIR defaulting to ./.data), set it
 * requires CFS_S3_ACCESS_KEY and CFS_S3_SECRET_KEY and reads CFS_S3_BUCKET
 * (cfs-chunks) and CFS_S3_REGION (us-east-1). The scrubber reads at most
 * CFS_SCRUB_BYTES_PER_SECOND (10 MiB/s; 0 turns it off) and starts a pass
 * over the whole store every CFS_SCRUB_PERIOD_DAYS (30), and at start.
 *
 * With S3, CFS_BLOCK_INDEX_URL (a PostgreSQL URL; CFS_BLOCK_INDEX_POOL_MAX
 * connections, 10) turns packing on: chunks put at the same time are
 * written as one object of at most CFS_PACK_MAX_BYTES (16 MiB),
 * CFS_PACKS_IN_FLIGHT (2) at once; a pack of at most CFS_PACK_INLINE_BYTES
 * (0, never, by default; 131072 is the measured choice) is kept in the index
 * instead of as an object. Off by default because a replica of a release
 * before inline packs, still running during a rolling upgrade, finds no
 * object for such a pack, takes its chunks for lost and quarantines them
 * (drops them from the index): turn it on once every replica reads them. A pack with at most
 * CFS_REPACK_MAX_LIVE_PERCENT (50) of its bytes still in use, and older than
 * CFS_REPACK_MIN_AGE_MINUTES (60), is rewritten to free the rest.
 */
export function parseConfig(env: Env): Readonly<BlockStorageConfig> {
  const storage = parseStorage(env);
  const packed = storage.kind === "s3" && storage.packs !== undefined;
  return deepFreeze({
    server: parseServerConfig(env, 8003, 9103),
    auth: parseAuthConfig(env),
    maxChunkBytes: int(env, "CFS_MAX_CHUNK_BYTES", MAX_CHUNK_BYTES, MiB, MAX_CHUNK_BYTES),
    // A write is mostly waiting (fsync, an object store's round trip):
    // a few at once hide it. Memory is about this many chunks per stream.
    // Packed, a stream's chunks wait together for their pack, and a pack can
    // only hold what its streams have in flight: 16 makes packs of ~8 MiB
    // from a single upload (MinIO: ~9.4 -> ~5.8 CPU-s per GiB stored, against
    // ~2 chunks a pack with 8), for 16 chunks held per stream at most.
    writesInFlight: int(env, "CFS_STORE_WRITES_IN_FLIGHT", packed ? 16 : 4, 1, 64),
    readsAhead: int(env, "CFS_STORE_READS_AHEAD", 4, 1, 64),
    chunkReceiptKeyFile: optionalStr(env, "CFS_CHUNK_RECEIPT_KEY_FILE"),
    storage,
    scrub: {
      bytesPerSecond: int(env, "CFS_SCRUB_BYTES_PER_SECOND", 10 * MiB),
      periodMs: int(env, "CFS_SCRUB_PERIOD_DAYS", 30, 1, 3650) * 24 * 3600 * 1000,
      pageSize: 500,
    },
  });
}

function parseStorage(env: Env): StorageConfig {
  const endpoint = optionalStr(env, "CFS_S3_ENDPOINT");
  if (endpoint === undefined) {
    // Resolved once so logs show where the chunks really are.
    return { kind: "disk", root: resolve(join(str(env, "CFS_DATA_DIR", "./.data"), "blocks")) };
  }
  const protocol = new URL(url(env, "CFS_S3_ENDPOINT")).protocol;
  if (protocol !== "http:" && protocol !== "https:") {
    throw new ConfigError(`CFS_S3_ENDPOINT must be an http:// or https:// URL, got "${endpoint}"`);
  }
  const bucket = str(env, "CFS_S3_BUCKET", "cfs-chunks");
  if (!BUCKET_NAME.test(bucket)) throw new ConfigError(`CFS_S3_BUCKET is not a valid bucket name: "${bucket}"`);
  return {
    kind: "s3",
    endpoint,
    accessKey: str(env, "CFS_S3_ACCESS_KEY"),
    secretKey: str(env, "CFS_S3_SECRET_KEY"),
    bucket,
    region: str(env, "CFS_S3_REGION", "us-east-1"),
    packs: parsePacks(env),
  };
}

function parsePacks(env: Env): PackConfig | undefined {
  if (optionalStr(env, "CFS_BLOCK_INDEX_URL") === undefined) return undefined;
  const minute = 60_000;
  return {
    index: {
      url: url(env, "CFS_BLOCK_INDEX_URL"),
      poolMax: int(env, "CFS_BLOCK_INDEX_POOL_MAX", 10, 1, 1000),
      preparedStatements: bool(env, "CFS_DATABASE_PREPARED_STATEMENTS", true),
    },
    limits: {
      maxPackBytes: int(env, "CFS_PACK_MAX_BYTES", 16 * MiB, MiB, 256 * MiB),
      packsInFlight: int(env, "CFS_PACKS_IN_FLIGHT", 2, 1, 64),
      // 0 until every replica reads inline packs (above). 131072 was measured: a small upload's
      // pack then needs no object write (MinIO itself keeps objects up to 128 KiB inside their
      // metadata file for the same reason).
      inlinePackBytes: int(env, "CFS_PACK_INLINE_BYTES", 0, 0, MiB),
    },
    repack: {
      maxLiveRatio: int(env, "CFS_REPACK_MAX_LIVE_PERCENT", 50, 0, 99) / 100,
      minAgeMs: int(env, "CFS_REPACK_MIN_AGE_MINUTES", 60, 0, 7 * 24 * 60) * minute,
      // Long enough for any one pack's rewrite; a replica that dies holding a claim gives it up after this.
      claimMs: 10 * minute,
      packsPerRun: 16,
      // Far past any write's PUT-then-record (its requests time out after 30 s idle).
      orphanAgeMs: 60 * minute,
      sweepPageSize: 1000,
      intervalMs: minute,
    },
  };
}
