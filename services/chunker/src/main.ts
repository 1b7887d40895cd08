import { ChunkerServiceService } from "#gen/cfs/chunker/v1/chunker.js";
import { ConfigError } from "#lib/config.js";
import { channelOptions, waitForReady } from "#lib/grpc-client.js";
import { service } from "#lib/grpc-server.js";
import { createLogger } from "#lib/logger.js";
import { Metrics } from "#lib/metrics.js";
import { runService } from "#lib/service.js";
import { GrpcBlockStore } from "./adapters/grpc-block-storage.js";
import { GrpcCatalogue } from "./adapters/grpc-metadata.js";
import { parseConfig } from "./config.js";
import { Downloader } from "./domain/download.js";
import { Uploader } from "./domain/upload.js";
import { createHandlers } from "./server.js";

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger("chunker", config.server.logLevel);
  // One chunk (plus framing) per message between services.
  const peers = channelOptions(config.server.maxMessageBytes, config.server.flowControlWindowBytes);
  const blocks = new GrpcBlockStore(config.blockStorageAddress, peers);
  const catalogue = new GrpcCatalogue(config.metadataAddress, peers);
  const uploader = new Uploader(blocks, catalogue, config);
  const downloader = new Downloader(blocks, catalogue, config.downloadFrameBytes, config.downloadPrefetchChunks);

  await runService({
    log,
    server: config.server,
    auth: config.auth,
    metrics: new Metrics("chunker"),
    services: [service("cfs.chunker.v1.ChunkerService", ChunkerServiceService, createHandlers(uploader, downloader))],
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
