import { loadReceiptKey } from "#lib/chunk-receipts.js";
import { BlockStorageServiceDefinition } from "#lib/bulk-codecs.js";
import type { BufferPool } from "#lib/buffer-pool.js";
import { chunkBufferPool, withHeadroom } from "#lib/grpc-framing.js";
import { ConfigError } from "#lib/config.js";
import { service } from "#lib/grpc-server.js";
import { createLogger, type Logger } from "#lib/logger.js";
import { MESSAGE_HEADERS_BYTES } from "#lib/limits.js";
import { Metrics } from "#lib/metrics.js";
import { runService } from "#lib/service.js";
import { DiskChunkStore } from "./adapters/disk-chunk-store.js";
import { MinioChunkStore } from "./adapters/minio-chunk-store.js";
import { parseConfig, type StorageConfig } from "./config.js";
import { BlockMetrics } from "./adapters/prometheus-block-metrics.js";
import { BackgroundLoop } from "#lib/background-loop.js";
import { PostgresPackIndex } from "./adapters/postgres-pack-index.js";
import { BlockService } from "./domain/block-service.js";
import { PackedChunkStore } from "./domain/packed-chunk-store.js";
import { Repacker } from "./domain/repacker.js";
import { Quarantine } from "./domain/quarantine.js";
import { Scrubber } from "./domain/scrubber.js";
import type { ChunkStore } from "./ports/chunk-store.js";
import { createHandlers } from "./server.js";


interface OpenedStore {
  store: ChunkStore;
  /** Background work and resources of the store beyond the store itself. */
  closers: { name: string; close: () => Promise<void> }[];
}

async function openStore(storage: StorageConfig, maxChunkBytes: number, chunkBuffers: BufferPool, observer: BlockMetrics, log: Logger): Promise<OpenedStore> {
  const allocate = (size: number) => withHeadroom(size, chunkBuffers);
  if (storage.kind === "disk") {
    log.info({ root: storage.root }, "chunks on local disk");
    return { store: await DiskChunkStore.open({ root: storage.root, maxChunkBytes, allocate }), closers: [] };
  }
  const bucket = await MinioChunkStore.open({ ...storage, maxChunkBytes, allocate });
  if (!storage.packs) {
    log.info({ endpoint: storage.endpoint, bucket: storage.bucket }, "chunks in object storage, one object each");
    return { store: bucket, closers: [] };
  }
  const { index: indexConfig, limits, repack } = storage.packs;
  const index = await PostgresPackIndex.open(indexConfig, log);
  const repacker = new Repacker(index, bucket, repack, observer);
  const repacking = new BackgroundLoop(
    async (signal) => (await repacker.runOnce(signal)).more,
    { name: "repack", intervalMs: repack.intervalMs, maxBackoffMs: 10 * repack.intervalMs, log },
  );
  repacking.start();
  log.info({ endpoint: storage.endpoint, bucket: storage.bucket, maxPackBytes: limits.maxPackBytes }, "chunks in object storage, packed");
  return {
    store: new PackedChunkStore(index, bucket, bucket, limits, observer),
    closers: [
      { name: "repacker", close: () => repacking.stop() },
      { name: "pack index", close: () => index.close() },
    ],
  };
}

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger("block-storage", config.server.logLevel);
  const metrics = new Metrics("block-storage");
  const observer = new BlockMetrics(metrics.registry, log);
  // Chunks read for downloads, and chunks received from the chunker, in memory that goes back once sent or stored.
  const chunkBuffers = chunkBufferPool(log);
  const { store, closers: storeClosers } = await openStore(config.storage, config.maxChunkBytes, chunkBuffers, observer, log);
  const quarantine = new Quarantine(store, observer);
  const receiptKey = await loadReceiptKey(config.chunkReceiptKeyFile);
  const blocks = new BlockService(
    store,
    config.maxChunkBytes,
    quarantine,
    { writesInFlight: config.writesInFlight, readsAhead: config.readsAhead },
    receiptKey,
    (parts) => parts.forEach((part) => chunkBuffers.give(part.buffer)),
  );
  const scrubbing = new AbortController();
  // A pass at start, then one per period, paced (CFS_SCRUB_*).
  const scrubRun = new Scrubber(store, quarantine, config.scrub, observer).run(scrubbing.signal);

  await runService({
    log,
    server: config.server,
    auth: config.auth,
    metrics,
    services: [
      service(
        "cfs.blockstore.v1.BlockStorageService",
        BlockStorageServiceDefinition,
        createHandlers(blocks, {
          maxFrameBytes: config.server.maxMessageBytes - MESSAGE_HEADERS_BYTES,
          releaseChunk: (data) => chunkBuffers.give(data.buffer),
        }),
      ),
    ],
    checks: [{ name: config.storage.kind === "disk" ? "disk" : "object storage", check: () => store.check() }],
    closers: [
      { name: "scrubber", close: () => (scrubbing.abort(), scrubRun) },
      // The repacker stops before the bucket's sockets go.
      ...storeClosers,
      { name: "chunk store", close: () => store.close() },
    ],
  });
}

main().catch((err: unknown) => {
  createLogger("block-storage").fatal({ err }, err instanceof ConfigError ? "invalid configuration" : "failed to start");
  process.exit(1);
});
