import { isAbsolute, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./config.js";
import { MAX_CHUNK_BYTES } from "#lib/limits.js";

const base = { CFS_AUTH_ISSUER: "https://tenant.eu.auth0.com/", CFS_AUTH_AUDIENCE: "https://cfs.example/api" };

describe("parseConfig", () => {
  it("keeps chunks on disk under $CFS_DATA_DIR/blocks unless an S3 endpoint is set", () => {
    const config = parseConfig({ ...base, CFS_DATA_DIR: "/srv/cfs" });
    expect(config.storage).toEqual({ kind: "disk", root: join("/srv/cfs", "blocks") });
    expect(config.server).toMatchObject({ port: 8003, metricsPort: 9103 });
    expect(config.maxChunkBytes).toBe(MAX_CHUNK_BYTES);
    // No receipt key unless a file is named: PutChunks then gives no receipt.
    expect(config.chunkReceiptKeyFile).toBeUndefined();
    expect(parseConfig({ ...base, CFS_CHUNK_RECEIPT_KEY_FILE: "/etc/cfs/receipts/key" }).chunkReceiptKeyFile).toBe("/etc/cfs/receipts/key");
    const relative = parseConfig(base).storage;
    expect(relative.kind === "disk" && isAbsolute(relative.root)).toBe(true);
  });

  it("requires S3 credentials with an endpoint and defaults bucket and region", () => {
    const s3 = { ...base, CFS_S3_ENDPOINT: "http://127.0.0.1:9000" };
    expect(() => parseConfig(s3)).toThrow(/CFS_S3_ACCESS_KEY/);
    expect(() => parseConfig({ ...s3, CFS_S3_ACCESS_KEY: "k" })).toThrow(/CFS_S3_SECRET_KEY/);
    expect(parseConfig({ ...s3, CFS_S3_ACCESS_KEY: "k", CFS_S3_SECRET_KEY: "s" }).storage).toEqual({
      kind: "s3",
      endpoint: "http://127.0.0.1:9000",
      accessKey: "k",
      secretKey: "s",
      bucket: "cfs-chunks",
      region: "us-east-1",
    });
  });

  it("refuses an endpoint that is not http(s), an invalid bucket name and a chunk limit below 1 MiB", () => {
    const s3 = { ...base, CFS_S3_ACCESS_KEY: "k", CFS_S3_SECRET_KEY: "s" };
    expect(() => parseConfig({ ...s3, CFS_S3_ENDPOINT: "ftp://host" })).toThrow(/http/);
    expect(() => parseConfig({ ...s3, CFS_S3_ENDPOINT: "http://host", CFS_S3_BUCKET: "Bad_Bucket" })).toThrow(/bucket/);
    expect(() => parseConfig({ ...base, CFS_MAX_CHUNK_BYTES: "1000" })).toThrow(/CFS_MAX_CHUNK_BYTES/);
  });

  it("packs chunks with an S3 endpoint and a block index URL, holding more writes per stream; one object each without", () => {
    const s3 = { ...base, CFS_S3_ENDPOINT: "http://127.0.0.1:9000", CFS_S3_ACCESS_KEY: "k", CFS_S3_SECRET_KEY: "s" };
    const loose = parseConfig(s3);
    expect(loose.storage.kind === "s3" && loose.storage.packs).toBeUndefined();
    expect(loose.writesInFlight).toBe(4);
    const packed = parseConfig({ ...s3, CFS_BLOCK_INDEX_URL: "postgres://cfs@db/cfs", CFS_REPACK_MAX_LIVE_PERCENT: "30" });
    expect(packed.writesInFlight).toBe(16);
    expect(packed.storage.kind === "s3" && packed.storage.packs).toMatchObject({
      index: { url: "postgres://cfs@db/cfs", poolMax: 10, preparedStatements: true },
      limits: { maxPackBytes: 16 * 1024 * 1024, packsInFlight: 2, inlinePackBytes: 0 },
      repack: { maxLiveRatio: 0.3, minAgeMs: 60 * 60_000 },
    });
    expect(parseConfig({ ...s3, CFS_BLOCK_INDEX_URL: "postgres://db/cfs", CFS_STORE_WRITES_IN_FLIGHT: "6" }).writesInFlight).toBe(6);
    expect(() => parseConfig({ ...s3, CFS_BLOCK_INDEX_URL: "postgres://db/cfs", CFS_REPACK_MAX_LIVE_PERCENT: "100" })).toThrow(/CFS_REPACK_MAX_LIVE_PERCENT/);
    expect(() => parseConfig({ ...s3, CFS_BLOCK_INDEX_URL: "postgres://db/cfs", CFS_PACK_MAX_BYTES: "1000" })).toThrow(/CFS_PACK_MAX_BYTES/);
    const pooled = parseConfig({ ...s3, CFS_BLOCK_INDEX_URL: "postgres://db/cfs", CFS_DATABASE_PREPARED_STATEMENTS: "false" });
    expect(pooled.storage.kind === "s3" && pooled.storage.packs?.index.preparedStatements).toBe(false);
    expect(() => parseConfig({ ...s3, CFS_BLOCK_INDEX_URL: "postgres://db/cfs", CFS_DATABASE_PREPARED_STATEMENTS: "sometimes" })).toThrow(/CFS_DATABASE_PREPARED_STATEMENTS/);
    const inline = parseConfig({ ...s3, CFS_BLOCK_INDEX_URL: "postgres://db/cfs", CFS_PACK_INLINE_BYTES: "131072" });
    expect(inline.storage.kind === "s3" && inline.storage.packs?.limits.inlinePackBytes).toBe(131072);
    expect(() => parseConfig({ ...s3, CFS_BLOCK_INDEX_URL: "postgres://db/cfs", CFS_PACK_INLINE_BYTES: String(2 * 1024 * 1024) })).toThrow(/CFS_PACK_INLINE_BYTES/);
  });

  it("freezes the result", () => {
    expect(Object.isFrozen(parseConfig(base).storage)).toBe(true);
  });
});
