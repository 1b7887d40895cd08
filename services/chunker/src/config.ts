import { parseAuthConfig, type AuthConfig } from "#lib/auth.js";
import { ConfigError, deepFreeze, int, str, type Env } from "#lib/config.js";
import { fastCdcSizes } from "#lib/fastcdc.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import { parseServerConfig, type ServerConfig } from "#lib/service.js";

export interface ChunkerConfig {
  server: ServerConfig;
  auth: AuthConfig;
  metadataAddress: string;
  blockStorageAddress: string;
  /** FastCDC's average chunk size; min is a quarter, max four times it. */
  chunkAvgBytes: number;
  /** Chunks of a streamed upload checked against block storage at once; memory is about this many chunks per upload. */
  chunksPerBatch: number;
  maxFileBytes: number;
  /** Size of the data messages sent to download clients. */
  downloadFrameBytes: number;
  /** Upload sessions whose running content hash is kept in memory (each a few hundred bytes). */
  contentHashSessions: number;
}

const MiB = 1024 * 1024;
/** CFS_CHUNK_AVG_BYTES unless set; see the README's chunking section for why. */
export const DEFAULT_CHUNK_AVG_BYTES = MiB;

/**
 * CFS_CHUNK_AVG_BYTES (FastCDC average, a power of two from 64 KiB to
 * 4 MiB; default 1 MiB), CFS_UPLOAD_BATCH_CHUNKS (8), CFS_MAX_FILE_BYTES
 * (64 GiB), CFS_DOWNLOAD_FRAME_BYTES (1 MiB), CFS_CONTENT_HASH_SESSIONS
 * (10000), plus the peers' addresses.
 *
 * Downloads go out in messages of at most 1 MiB by default: they
 * cost the chunker ~0.8 CPU-s per GiB less than 256 KiB ones
 * (make bench), and every gRPC client accepts 4 MiB.
 */
export function parseConfig(env: Env): Readonly<ChunkerConfig> {
  const chunkAvgBytes = int(env, "CFS_CHUNK_AVG_BYTES", DEFAULT_CHUNK_AVG_BYTES);
  try {
    fastCdcSizes(chunkAvgBytes);
  } catch (err) {
    throw new ConfigError(`CFS_CHUNK_AVG_BYTES: ${(err as Error).message}`);
  }
  return deepFreeze({
    server: parseServerConfig(env, 8002, 9102),
    auth: parseAuthConfig(env),
    metadataAddress: str(env, "CFS_METADATA_ADDR", "localhost:8000"),
    blockStorageAddress: str(env, "CFS_BLOCKSTORE_ADDR", "localhost:8003"),
    chunkAvgBytes,
    chunksPerBatch: int(env, "CFS_UPLOAD_BATCH_CHUNKS", 8, 1, MAX_HASHES_PER_CALL),
    maxFileBytes: int(env, "CFS_MAX_FILE_BYTES", 64 * 1024 ** 3, 1),
    downloadFrameBytes: int(env, "CFS_DOWNLOAD_FRAME_BYTES", MiB, 16 * 1024, MiB),
    contentHashSessions: int(env, "CFS_CONTENT_HASH_SESSIONS", 10_000, 0, 1_000_000),
  });
}
