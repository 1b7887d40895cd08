import * as http from "node:http";
import * as https from "node:https";
import { Client } from "minio";
import { Pool, type Dispatcher } from "undici";
import { dataLoss, unavailable } from "#lib/errors.js";
import {
  chunkKey,
  isAfter,
  isQuarantinedAfter,
  quarantineStamp,
  type ChunkAllocator,
  type ChunkPosition,
  type ChunkStore,
  type ListedChunk,
  type QuarantinedChunk,
} from "../ports/chunk-store.js";
import type { PackObjects, StoredPack } from "../ports/pack-objects.js";
import { presentSizes, readAhead } from "./bounded.js";
import { S3Presigner } from "./s3-presigner.js";

export interface MinioChunkStoreOptions {
  /** http(s)://host[:port] of MinIO or any S3-compatible server. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** An object larger than this is corruption, never read into memory. */
  maxChunkBytes: number;
  allocate?: ChunkAllocator;
}

/** HEAD requests in flight for one HasChunks or DeleteChunks. */
const STAT_CONCURRENCY = 16;
/** Connections to the object store for chunk bytes, shared by all calls (as many again for writes). */
const MAX_CONNECTIONS = 64;
/**
 * A server that stops answering must not hold a call (and its chunk in
 * memory) forever: a request whose answer or body stalls this long fails.
 */
const IDLE_TIMEOUT_MS = 30_000;

/** Error codes that mean "try again later", not "this request is wrong". */
const TRANSIENT = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  // undici's: the connection closed or stalled.
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "SlowDown",
  "ServiceUnavailable",
  "InternalError",
  "RequestTimeout",
  "XMinioServerNotInitialized",
]);

/** How long a presigned request URL stays valid: it is used at once, so a minute is plenty. */
const PRESIGNED_SECONDS = 60;

/**
 * Chunks as objects `<ownerKey>/<hash[0:2]>/<hash>` in one bucket. A single
 * PUT with its length is atomic in S3: an object is visible whole or not at
 * all.
 *
 * Chunk bytes go out and come in over presigned URLs on undici rather than
 * through minio-js's putObject/getObject: those hash every
 * payload (MD5, plus SHA-256 to sign it over plain HTTP), which cost block
 * storage more CPU than the SHA-256 it must do itself to verify the chunk. A
 * presigned request signs only the method, key and time (its payload is
 * UNSIGNED-PAYLOAD); the payload's integrity is ours to check, and is: every
 * chunk is verified against its SHA-256 before it is written and after it is
 * read (domain/block-service.ts). GETs go over undici, PUTs and HEADs over
 * node:http, each where it costs less (measured from one client process on
 * MinIO): node:http's parser copies every piece of a body it receives into
 * a fresh buffer, so its GETs of 8 MiB cost ~1.9 CPU-s per GiB against
 * undici's ~1.2; undici writes a body of several parts one write at a time,
 * where node:http corks them into one writev (~0.6 against ~0.4 CPU-s per
 * GiB of 8 MiB PUTs), and its HEADs cost ~2× node:http's in both the client
 * and MinIO. The URLs are
 * signed by S3Presigner (one SHA-256 and one HMAC a request, the day's
 * signing key kept). The calls
 * that move no chunk (bucket, listings, bulk delete, quarantine copies)
 * stay on minio-js.
 *
 * The same bucket holds packs (ports/pack-objects.ts) under `packs/`, when
 * block storage packs chunks; objects of single chunks are then the loose
 * chunks stored before packing was turned on.
 */
export class MinioChunkStore implements ChunkStore, PackObjects {
  /** Where a PUT connects (the presigner's origin) and how. */
  private readonly writeTo: { request: typeof http.request; hostname: string; port: string };

  private constructor(
    private readonly client: Client,
    private readonly reads: Pool,
    private readonly writes: http.Agent,
    private readonly bucket: string,
    private readonly maxChunkBytes: number,
    private readonly allocate: ChunkAllocator,
    private readonly presigner: S3Presigner,
  ) {
    const { protocol, hostname, port } = new URL(presigner.origin);
    this.writeTo = { request: protocol === "https:" ? https.request : http.request, hostname, port };
  }

  /** Connects and creates the bucket when it is missing. */
  static async open(options: MinioChunkStoreOptions): Promise<MinioChunkStore> {
    const endpoint = new URL(options.endpoint);
    const client = new Client({
      endPoint: endpoint.hostname,
      port: endpoint.port ? Number(endpoint.port) : undefined,
      useSSL: endpoint.protocol === "https:",
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: options.region,
      // Its retry logs with console.warn; our callers retry UNAVAILABLE instead.
      retryOptions: { disableRetry: true },
    });
    const writes = new (endpoint.protocol === "https:" ? https : http).Agent({ keepAlive: true, maxSockets: MAX_CONNECTIONS });
    let reads: Pool | undefined;
    try {
      await guard(() => ensureBucket(client, options.bucket, options.region));
      const presigner = await S3Presigner.forBucket(client, options.bucket, options);
      reads = new Pool(presigner.origin, { connections: MAX_CONNECTIONS, headersTimeout: IDLE_TIMEOUT_MS, bodyTimeout: IDLE_TIMEOUT_MS });
      return new MinioChunkStore(client, reads, writes, options.bucket, options.maxChunkBytes, options.allocate ?? Buffer.allocUnsafe, presigner);
    } catch (err) {
      writes.destroy();
      await reads?.close();
      throw err;
    }
  }

  has(ownerKey: string, hashes: readonly string[]): Promise<Map<string, number>> {
    return presentSizes(hashes, STAT_CONCURRENCY, (hash) => this.sizeOf(chunkKey(ownerKey, hash)));
  }

  async put(ownerKey: string, hash: string, parts: readonly Buffer[]): Promise<boolean> {
    // A conditional write (If-None-Match: *) instead of a HEAD before the
    // PUT: one request per chunk, and an existing chunk is never rewritten,
    // even by two puts at once.
    return (await this.putObject(chunkKey(ownerKey, hash), parts, { "if-none-match": "*" })) === 200;
  }

  async get(ownerKey: string, hash: string): Promise<Buffer | undefined> {
    return guard(async () => {
      const res = await this.fetch(chunkKey(ownerKey, hash), {});
      if (res.statusCode === 404) {
        await res.body.dump();
        return undefined;
      }
      if (res.statusCode !== 200) throw s3Error("GET", res.statusCode, await readBody(res.body, MAX_ERROR_BODY_BYTES, () => new Error("oversized error body")));
      const declared = Number(res.headers["content-length"]);
      const tooLarge = () => dataLoss(`chunk ${hash} is stored with more bytes than any chunk may have`);
      if (declared > this.maxChunkBytes) {
        res.body.destroy();
        throw tooLarge();
      }
      if (!Number.isSafeInteger(declared) || declared < 0) return readBody(res.body, this.maxChunkBytes, tooLarge);
      const [data] = await readInto(res.body, [declared], this.allocate, () => new Error(`object storage sent more bytes for chunk ${hash} than its Content-Length`));
      if (!data) throw dataLoss(`object storage ended chunk ${hash} before its Content-Length`);
      return data;
    });
  }

  getMany(ownerKey: string, hashes: readonly string[], ahead: number): AsyncGenerator<Buffer | undefined> {
    return readAhead(hashes, ahead, (hash) => this.get(ownerKey, hash));
  }

  /**
   * A GET over a presigned URL. Resolves with the response once its head has
   * arrived; the caller reads the body to its end (or destroys it), so that
   * the connection goes back to the pool.
   */
  private fetch(key: string, headers: Record<string, string>): Promise<Dispatcher.ResponseData> {
    return this.reads.request({ method: "GET", path: this.presigner.presign("GET", key, PRESIGNED_SECONDS), headers });
  }

  /**
   * A PUT or HEAD over a presigned URL. Resolves with the response once its
   * head has arrived; the caller reads the body to its end. A body is
   * written part by part under its total length (node:http corks the socket
   * meanwhile, so the parts leave in one writev, never joined).
   */
  private send(method: "PUT" | "HEAD", key: string, headers: Record<string, string>, body?: readonly Buffer[]): Promise<http.IncomingMessage> {
    const { request, hostname, port } = this.writeTo;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          method,
          hostname,
          port,
          path: this.presigner.presign(method, key, PRESIGNED_SECONDS),
          agent: this.writes,
          headers: body ? { ...headers, "content-length": String(totalLength(body)) } : headers,
        },
        resolve,
      );
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`object storage idle for ${IDLE_TIMEOUT_MS} ms`), { code: "ETIMEDOUT" })));
      req.on("error", reject);
      for (const part of body ?? []) req.write(part);
      req.end();
    });
  }

  async delete(ownerKey: string, hashes: readonly string[]): Promise<number> {
    // S3 reports absent keys as deleted, so the count comes from a stat first.
    const present = [...(await this.has(ownerKey, hashes)).keys()];
    if (present.length === 0) return 0;
    const failures = await guard(() =>
      this.client.removeObjects(
        this.bucket,
        present.map((hash) => chunkKey(ownerKey, hash)),
      ),
    );
    if (failures.length > 0) {
      throw new Error(`object storage refused to delete ${failures.length} of ${present.length} chunks: ${JSON.stringify(failures[0])}`);
    }
    return present.length;
  }

  async quarantine(ownerKey: string, hash: string): Promise<boolean> {
    const key = chunkKey(ownerKey, hash);
    return guard(async () => {
      try {
        // Server-side: the bytes never come here (they may be larger than any chunk).
        await this.client.copyObject(this.bucket, `${QUARANTINE_PREFIX}${quarantineStamp(new Date())}/${key}`, `/${this.bucket}/${key}`);
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
      await this.client.removeObject(this.bucket, key);
      return true;
    });
  }

  async listQuarantined(after: QuarantinedChunk, limit: number): Promise<QuarantinedChunk[]> {
    const out: QuarantinedChunk[] = [];
    // Keys sort in quarantine order; `<prefix><stamp>/` comes before every key of that millisecond.
    let startAfter = `${QUARANTINE_PREFIX}${quarantineStamp(after.quarantinedAt)}/${after.ownerKey === "" ? "" : chunkKey(after.ownerKey, after.hash)}`;
    for (;;) {
      const page = await guard(() =>
        this.client.listObjectsV2Query(this.bucket, QUARANTINE_PREFIX, "", "", Math.min(1000, limit - out.length), startAfter),
      );
      for (const item of page.objects) {
        if (!item.name) continue;
        startAfter = item.name;
        const match = QUARANTINED_KEY.exec(item.name);
        if (!match) continue;
        const entry = { ownerKey: match[2]!, hash: match[3]!, quarantinedAt: new Date(Number(match[1])) };
        if (!isQuarantinedAfter(entry, after)) continue;
        out.push(entry);
        if (out.length >= limit) return out;
      }
      if (!page.isTruncated || page.objects.length === 0) return out;
    }
  }

  async list(after: ChunkPosition | undefined, limit: number): Promise<ListedChunk[]> {
    const out: ListedChunk[] = [];
    let startAfter = after ? chunkKey(after.ownerKey, after.hash) : "";
    for (;;) {
      const page = await guard(() => this.client.listObjectsV2Query(this.bucket, "", "", "", Math.min(1000, limit - out.length), startAfter));
      for (const item of page.objects) {
        if (!item.name) continue;
        startAfter = item.name;
        const match = CHUNK_KEY.exec(item.name);
        // packs/ and quarantine/ sort after every hex owner key: no loose chunk comes after them.
        if (!match) {
          if (item.name.startsWith(PACK_PREFIX) || item.name.startsWith(QUARANTINE_PREFIX)) return out;
          continue;
        }
        const entry = { ownerKey: match[1]!, hash: match[2]!, size: item.size, storedAt: item.lastModified };
        if (after && !isAfter(entry, after)) continue;
        out.push(entry);
        if (out.length >= limit) return out;
      }
      if (!page.isTruncated || page.objects.length === 0) return out;
    }
  }

  async putPack(pack: string, parts: readonly Buffer[]): Promise<void> {
    await this.putObject(packKey(pack), parts);
  }

  async readPack(pack: string, offset: number, size: number): Promise<Buffer | undefined> {
    const chunks = await this.readChunks(pack, offset, [size]);
    if (chunks && chunks.length === 0) throw dataLoss(`pack ${pack} holds fewer bytes than its index says (${size} from ${offset})`);
    return chunks?.[0];
  }

  /**
   * One ranged GET for the whole run, cut into its chunks as the bytes
   * arrive (each copied once, into a buffer of the allocator's): a run of
   * eight 1 MiB chunks cost MinIO a third of the CPU of eight GETs of one
   * chunk each.
   */
  readChunks(pack: string, offset: number, sizes: readonly number[]): Promise<Buffer[] | undefined> {
    return guard(async () => {
      const total = totalOf(sizes);
      // A range cannot be empty: a run of empty chunks is a HEAD that the pack is there.
      if (total === 0) return (await this.sizeOf(packKey(pack))) === undefined ? undefined : sizes.map(() => Buffer.alloc(0));
      const res = await this.fetch(packKey(pack), { range: `bytes=${offset}-${offset + total - 1}` });
      if (res.statusCode === 404) {
        await res.body.dump();
        return undefined;
      }
      if (res.statusCode === 416) {
        // The range starts past the pack's end: none of the run is there.
        await res.body.dump();
        return [];
      }
      if (res.statusCode !== 206) throw s3Error("GET", res.statusCode, await readBody(res.body, MAX_ERROR_BODY_BYTES, () => new Error("oversized error body")));
      return readInto(res.body, sizes, this.allocate, () => new Error(`object storage sent more than the ${total} bytes asked of pack ${pack}`));
    });
  }

  async deletePacks(packs: readonly string[]): Promise<void> {
    if (packs.length === 0) return;
    const failures = await guard(() => this.client.removeObjects(this.bucket, packs.map(packKey)));
    if (failures.length > 0) throw new Error(`object storage refused to delete ${failures.length} of ${packs.length} packs: ${JSON.stringify(failures[0])}`);
  }

  async listPacks(after: string, limit: number): Promise<StoredPack[]> {
    const out: StoredPack[] = [];
    let startAfter = after === "" ? "" : packKey(after);
    while (out.length < limit) {
      const page = await guard(() => this.client.listObjectsV2Query(this.bucket, PACK_PREFIX, "", "", Math.min(1000, limit - out.length), startAfter));
      for (const item of page.objects) {
        if (!item.name) continue;
        startAfter = item.name;
        const match = PACK_KEY.exec(item.name);
        if (match) out.push({ pack: match[1]!, storedAt: item.lastModified });
      }
      if (!page.isTruncated || page.objects.length === 0) break;
    }
    return out;
  }

  async quarantineBytes(ownerKey: string, hash: string, data: Buffer): Promise<void> {
    await this.putObject(`${QUARANTINE_PREFIX}${quarantineStamp(new Date())}/${chunkKey(ownerKey, hash)}`, [data]);
  }

  /**
   * A PUT of `parts` as one object over a presigned URL; resolves 200, or
   * 412 when a conditional one (`if-none-match`) found the object there.
   */
  private putObject(key: string, parts: readonly Buffer[], conditions: Record<string, string> = {}): Promise<number> {
    return guard(async () => {
      const res = await this.send("PUT", key, { "content-type": "application/octet-stream", ...conditions }, parts);
      const body = await readBody(res, MAX_ERROR_BODY_BYTES, () => new Error("object storage answered a PUT with an oversized body"));
      if (res.statusCode === 200 || (res.statusCode === 412 && "if-none-match" in conditions)) return res.statusCode;
      throw s3Error("PUT", res.statusCode, body);
    });
  }

  async check(): Promise<void> {
    if (!(await guard(() => this.client.bucketExists(this.bucket)))) throw new Error(`bucket ${this.bucket} does not exist`);
  }

  async close(): Promise<void> {
    this.writes.destroy();
    await this.reads.close();
  }

  /** A HEAD over a presigned URL, like put and get: a stat costs one light request, not minio-js's signing of an empty payload. */
  private sizeOf(key: string): Promise<number | undefined> {
    return guard(async () => {
      const res = await this.send("HEAD", key, {});
      res.resume();
      if (res.statusCode === 404) return undefined;
      if (res.statusCode !== 200) throw s3Error("HEAD", res.statusCode, Buffer.alloc(0));
      const size = Number(res.headers["content-length"]);
      if (!Number.isSafeInteger(size) || size < 0) throw new Error(`object storage answered a HEAD without a valid length (${res.headers["content-length"]})`);
      return size;
    });
  }
}

async function ensureBucket(client: Client, bucket: string, region: string): Promise<void> {
  if (await client.bucketExists(bucket)) return;
  try {
    await client.makeBucket(bucket, region);
  } catch (err) {
    // Another instance created it between our check and our create.
    if (codeOf(err) !== "BucketAlreadyOwnedByYou") throw err;
  }
}

/**
 * Quarantined chunks: `quarantine/<ms since the epoch, 15 digits>/<chunk key>`,
 * after every chunk key in listing order, and among themselves in the order
 * they were quarantined.
 */
const QUARANTINE_PREFIX = "quarantine/";

/** Packs: `packs/<name[0:2]>/<name>`, the name 32 hex digits; between the loose chunks and quarantine/ in listing order. */
const PACK_PREFIX = "packs/";
const PACK_NAME = /^[0-9a-f]{32}$/;
const PACK_KEY = /^packs\/[0-9a-f]{2}\/([0-9a-f]{32})$/;

function packKey(pack: string): string {
  if (!PACK_NAME.test(pack)) throw new Error("pack names are 32 lowercase hex digits");
  return `${PACK_PREFIX}${pack.slice(0, 2)}/${pack}`;
}
const QUARANTINED_KEY = /^quarantine\/([0-9]{15})\/([0-9a-f]{64})\/[0-9a-f]{2}\/([0-9a-f]{64})$/;
const CHUNK_KEY = /^([0-9a-f]{64})\/[0-9a-f]{2}\/([0-9a-f]{64})$/;

/** An S3 error answer is a short XML document; anything longer is not one. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** The whole body of `res`, or `tooLarge()` (the response destroyed) past `maxBytes`. */
async function readBody(body: AsyncIterable<Buffer>, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  // Leaving the loop early (the throw) destroys the response stream.
  for await (const part of body) {
    total += part.length;
    if (total > maxBytes) throw tooLarge();
    parts.push(part);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}

function totalLength(parts: readonly Buffer[]): number {
  return totalOf(parts.map((p) => p.length));
}

function totalOf(sizes: readonly number[]): number {
  let total = 0;
  for (const size of sizes) total += size;
  return total;
}

/**
 * A body that holds `sizes` bytes back to back, read into one buffer per
 * size (each byte copied once); a body that ends short resolves with the
 * chunks it filled, one that goes on fails with `tooLong()`.
 */
async function readInto(body: AsyncIterable<Buffer>, sizes: readonly number[], allocate: ChunkAllocator, tooLong: () => Error): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  let target = allocate(sizes[0] ?? 0);
  let filled = 0;
  const advance = () => {
    while (chunks.length < sizes.length && filled === target.length) {
      chunks.push(target);
      filled = 0;
      if (chunks.length < sizes.length) target = allocate(sizes[chunks.length]!);
    }
  };
  advance();
  // Leaving the loop early (the throw) destroys the response stream.
  for await (const part of body) {
    for (let at = 0; at < part.length; ) {
      if (chunks.length >= sizes.length) throw tooLong();
      const n = Math.min(part.length - at, target.length - filled);
      part.copy(target, filled, at, at + n);
      filled += n;
      at += n;
      advance();
    }
  }
  return chunks;
}

/** An S3 error answer as an Error whose `code` is the S3 code (<Code>SlowDown</Code>), which guard() maps. */
function s3Error(method: string, status: number | undefined, body: Buffer): Error {
  const code = /<Code>([^<]{1,64})<\/Code>/.exec(body.toString("utf8"))?.[1] ?? (status === 503 ? "ServiceUnavailable" : `HTTP${status}`);
  return Object.assign(new Error(`object storage refused a ${method}: ${status} ${code}`), { code });
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

function isNotFound(err: unknown): boolean {
  const code = codeOf(err);
  return code === "NotFound" || code === "NoSuchKey";
}

/**
 * Turns an outage of the object store into UNAVAILABLE (which clients retry)
 * naming only the error code; anything else stays an internal error, logged
 * with its cause.
 */
async function guard<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw translate(err);
  }
}

function translate(err: unknown): unknown {
  const code = codeOf(err);
  return code !== undefined && TRANSIENT.has(code) ? unavailable(`object storage unavailable (${code})`, err) : err;
}
