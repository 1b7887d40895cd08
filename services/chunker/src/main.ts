import { ChunkerServiceDefinition } from "#lib/bulk-codecs.js";
import { chunkBufferPool } from "#lib/grpc-framing.js";
import { ConfigError } from "#lib/config.js";
import { fastCdcSizes } from "#lib/fastcdc.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import { peerChannelOptions, waitForReady } from "#lib/grpc-client.js";
import { service } from "#lib/grpc-server.js";
import { createLogger } from "#lib/logger.js";
import { Metrics } from "#lib/metrics.js";
import { runService } from "#lib/service.js";
import { GrpcChunkStorage } from "./adapters/grpc-block-storage.js";
import { GrpcCatalogue } from "./adapters/grpc-metadata.js";
import { parseConfig } from "./config.js";
import { GroupedCommits } from "./domain/commit-groups.js";
import { ContentHashes } from "./domain/content-hash.js";
import { Downloader } from "./domain/download.js";
import { UploadSessions } from "./domain/sessions.js";
import { Uploader } from "./domain/upload.js";
import { createHandlers } from "./server.js";

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger("chunker", config.server.logLevel);
  // Chunks read from block storage arrive in its memory and go back once forwarded to the client; chunks cut go back once
  // sent; a client's frames once cut.
  const chunkBuffers = chunkBufferPool(log);
  const peers = peerChannelOptions(config.server.maxMessageBytes, config.server.flowControlWindowBytes);
  const blocks = new GrpcChunkStorage(config.blockStorageAddress, peers, config.server.maxMessageBytes, chunkBuffers);
  const catalogue = new GrpcCatalogue(config.metadataAddress, peers);
  // Single-file commits of one token wait for the one on its way and go together (group commit).
  // A received frame goes back once its bytes are cut into chunks (the pool ignores memory it did not lend: small messages).
  const uploader = new Uploader(blocks, new GroupedCommits(catalogue), config, (frame) => chunkBuffers.give(frame.buffer));
  const downloader = new Downloader(blocks, catalogue, config.downloadFrameBytes);
  const chunking = fastCdcSizes(config.chunkAvgBytes);
  const uploadConfig = {
    chunkAvgBytes: chunking.avgBytes,
    chunkMinBytes: chunking.minBytes,
    chunkMaxBytes: chunking.maxBytes,
    maxFileBytes: config.maxFileBytes,
    maxChunksPerPage: MAX_HASHES_PER_CALL,
  };
  const sessions = new UploadSessions(catalogue, blocks, new ContentHashes(config.contentHashSessions), config.maxFileBytes);

  await runService({
    log,
    server: config.server,
    auth: config.auth,
    metrics: new Metrics("chunker"),
    services: [
      service(
        "cfs.chunker.v1.ChunkerService",
        ChunkerServiceDefinition,
        createHandlers(uploader, downloader, sessions, uploadConfig, {
          releaseChunk: (chunk) => chunkBuffers.give(chunk.buffer),
        }),
      ),
    ],
    checks: [
      { name: "block-storage", check: () => waitForReady(blocks.client) },
      { name: "metadata", check: () => waitForReady(catalogue.client) },
    ],
    closers: [
      { name: "block-storage client", close: () => blocks.close() },
      { name: "metadata client", close: () => catalogue.close() },
    ],
  });
}

main().catch((err: unknown) => {
  createLogger("chunker").fatal({ err }, err instanceof ConfigError ? "invalid configuration" : "failed to start");
  process.exit(1);
});
