import { parseAuthConfig, type AuthConfig } from "#lib/auth.js";
import { deepFreeze, int, str, type Env } from "#lib/config.js";
import { parseServerConfig, type ServerConfig } from "#lib/service.js";

export interface ChunkerConfig {
  server: ServerConfig;
  auth: AuthConfig;
  metadataAddress: string;
  blockStorageAddress: string;
  /** Fixed for now: 1 MiB. */
  chunkSize: number;
  maxChunksInFlight: number;
  downloadPrefetchChunks: number;
  maxFileBytes: number;
  /** Size of the data messages sent to download clients. */
  downloadFrameBytes: number;
}

export function parseConfig(env: Env): Readonly<ChunkerConfig> {
  return deepFreeze({
    server: parseServerConfig(env, 8002, 9102),
    auth: parseAuthConfig(env),
    metadataAddress: str(env, "CFS_METADATA_ADDR", "localhost:8000"),
    blockStorageAddress: str(env, "CFS_BLOCKSTORE_ADDR", "localhost:8003"),
    chunkSize: 1024 * 1024,
    // Storing a chunk durably is mostly waiting for fsync (in MinIO or on
    // disk); keeping several in flight overlaps those waits. Memory per
    // transfer is about chunkSize × this.
    maxChunksInFlight: int(env, "CFS_UPLOAD_CHUNKS_IN_FLIGHT", 8, 1, 64),
    downloadPrefetchChunks: int(env, "CFS_DOWNLOAD_PREFETCH_CHUNKS", 4, 1, 64),
    maxFileBytes: int(env, "CFS_MAX_FILE_BYTES", 64 * 1024 ** 3, 1),
    downloadFrameBytes: int(env, "CFS_DOWNLOAD_FRAME_BYTES", 256 * 1024, 16 * 1024, 1024 * 1024),
  });
}
