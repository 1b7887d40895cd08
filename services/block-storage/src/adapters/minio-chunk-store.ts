import * as http from "node:http";
import * as https from "node:https";
import { Client } from "minio";
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
import { DirectObjectReads, type DirectAnswer, type ExpectedBody } from "./direct-object-reads.js";
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
/** Sockets to the object store, shared by all calls. */
const MAX_SOCKETS = 64;
/**
 * minio-js sets no timeout: a server that stops answering would hold a call
 * (and its chunk in memory) forever. An idle socket for this long aborts it.
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
 * Chunk bytes go out and come in over presigned URLs on plain node:http
 * rather than through minio-js's putObject/getObject: those hash every
 * payload (MD5, plus SHA-256 to sign it over plain HTTP), which cost block
 * storage more CPU than the SHA-256 it must do itself to verify the chunk. A
 * presigned request signs only the method, key and time (its payload is
 * UNSIGNED-PAYLOAD); the payload's integrity is ours to check, and is: every
 * chunk is verified against its SHA-256 before it is written and after it is
 * read (domain/block-service.ts). The URLs are signed by S3Presigner (one
 * SHA-256 and one HMAC a request, the day's signing key kept). The calls
 * that move no chunk (bucket, listings, bulk delete, quarantine copies)
 * stay on minio-js.
 *
 * The GETs of chunk bytes (a pack's run, a loose chunk) go over
 * DirectObjectReads instead when the store speaks plain HTTP: their bodies
 * are read straight into the chunk buffers.
 *
 * The same bucket holds packs (ports/pack-objects.ts) under `packs/`, when
 * block storage packs chunks; objects of single chunks are then the loose
 * chunks stored before packing was turned on.
 */
export class MinioChunkStore implements ChunkStore, PackObjects {
  private constructor(
    private readonly client: Client,
    private readonly agent: http.Agent,
    private readonly request: typeof http.request,
    private readonly bucket: string,
    private readonly maxChunkBytes: number,
    private readonly allocate: ChunkAllocator,
    private readonly presigner: S3Presigner,
    /** GETs of chunk bytes (pack runs, loose chunks) over plain HTTP; undefined over TLS (node:https reads them). */
    private readonly direct: DirectObjectReads | undefined,
  ) {}

  /** Connects and creates the bucket when it is missing. */
  static async open(options: MinioChunkStoreOptions): Promise<MinioChunkStore> {
    const endpoint = new URL(options.endpoint);
    const useSSL = endpoint.protocol === "https:";
    const base = useSSL ? https : http;
    const agent = new base.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    const request = (opts: http.RequestOptions, callback?: (res: http.IncomingMessage) => void): http.ClientRequest => {
      const req = base.request(opts, callback);
      req.setTimeout(IDLE_TIMEOUT_MS, () =>
        req.destroy(Object.assign(new Error(`object storage idle for ${IDLE_TIMEOUT_MS} ms`), { code: "ETIMEDOUT" })),
      );
      return req;
    };
    const client = new Client({
      endPoint: endpoint.hostname,
      port: endpoint.port ? Number(endpoint.port) : undefined,
      useSSL,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: options.region,
      transport: { request: request as typeof http.request },
      transportAgent: agent,
      // Its retry logs with console.warn; our callers retry UNAVAILABLE instead.
      retryOptions: { disableRetry: true },
    });
    try {
      await guard(() => ensureBucket(client, options.bucket, options.region));
      const presigner = await S3Presigner.forBucket(client, options.bucket, options);
      const direct = useSSL
        ? undefined
        : new DirectObjectReads({
            host: endpoint.hostname.replace(/^\[(.*)\]$/, "$1"),
            port: endpoint.port ? Number(endpoint.port) : 80,
            maxSockets: MAX_SOCKETS,
            idleTimeoutMs: IDLE_TIMEOUT_MS,
          });
      return new MinioChunkStore(client, agent, request as typeof http.request, options.bucket, options.maxChunkBytes, options.allocate ?? Buffer.allocUnsafe, presigner, direct);
    } catch (err) {
      agent.destroy();
      throw err;
    }
  }

  has(ownerKey: string, hashes: readonly string[]): Promise<Map<string, number>> {
    return presentSizes(hashes, STAT_CONCURRENCY, (hash) => this.sizeOf(ownerKey, hash));
  }

  async put(ownerKey: string, hash: string, parts: readonly Buffer[]): Promise<boolean> {
    // A conditional write (If-None-Match: *) instead of a HEAD before the
    // PUT: one request per chunk, and an existing chunk is never rewritten,
    // even by two puts at once.
    return (await this.putObject(chunkKey(ownerKey, hash), parts, { "if-none-match": "*" })) === 200;
  }

  async get(ownerKey: string, hash: string): Promise<Buffer | undefined> {
    return guard(async () => {
      const tooLarge = () => dataLoss(`chunk ${hash} is stored with more bytes than any chunk may have`);
      if (this.direct) {
        const answer = await this.directGet(chunkKey(ownerKey, hash), {}, {
          status: 200,
          sizes: (length) => {
            if (length > this.maxChunkBytes) throw tooLarge();
            return [length];
          },
          allocate: this.allocate,
          tooLong: () => new Error(`object storage sent more bytes for chunk ${hash} than its Content-Length`),
        });
        if (answer.status === 404) return undefined;
        if (!answer.chunks) throw s3Error("GET", answer.status, answer.errorBody);
        return answer.chunks[0]!;
      }
      const res = await this.send("GET", chunkKey(ownerKey, hash), {});
      if (res.statusCode === 404) {
        res.resume();
        return undefined;
      }
      if (res.statusCode !== 200) throw s3Error("GET", res.statusCode, await readBody(res, MAX_ERROR_BODY_BYTES, () => new Error("oversized error body")));
      const declared = Number(res.headers["content-length"]);
      if (declared > this.maxChunkBytes) {
        res.destroy();
        throw tooLarge();
      }
      if (!Number.isSafeInteger(declared) || declared < 0) return readBody(res, this.maxChunkBytes, tooLarge);
      const [data] = await readInto(res, [declared], this.allocate, () => new Error(`object storage sent more bytes for chunk ${hash} than its Content-Length`));
      if (!data) throw dataLoss(`object storage ended chunk ${hash} before its Content-Length`);
      return data;
    });
  }

  getMany(ownerKey: string, hashes: readonly string[], ahead: number): AsyncGenerator<Buffer | undefined> {
    return readAhead(hashes, ahead, (hash) => this.get(ownerKey, hash));
  }

  /** A GET over a presigned URL on DirectObjectReads (the store speaks plain HTTP): its body read straight into chunk buffers. */
  private directGet(key: string, headers: Record<string, string>, body: ExpectedBody): Promise<DirectAnswer> {
    const { hostname, port, path } = this.presigner.presign("GET", key, PRESIGNED_SECONDS);
    return this.direct!.get(path, port ? `${hostname}:${port}` : hostname, headers, body);
  }

  /**
   * One request over a presigned URL. Resolves with the response once its
   * head has arrived; the caller reads the body to its end (or destroys it),
   * so that the socket goes back to the pool. A body is written part by
   * part under its total length (node:http corks the socket meanwhile, so
   * the parts still leave in one writev).
   */
  private send(method: "PUT" | "GET" | "HEAD", key: string, headers: Record<string, string>, body?: readonly Buffer[]): Promise<http.IncomingMessage> {
    const target = this.presigner.presign(method, key, PRESIGNED_SECONDS);
    return new Promise((resolve, reject) => {
      const req = this.request(
        {
          method,
          ...target,
          agent: this.agent,
          headers: body ? { ...headers, "content-length": String(totalLength(body)) } : headers,
        },
        resolve,
      );
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
      const tooLong = () => new Error(`object storage sent more than the ${total} bytes asked of pack ${pack}`);
      if (this.direct && total > 0) {
        const answer = await this.directGet(packKey(pack), { range: `bytes=${offset}-${offset + total - 1}` }, {
          status: 206,
          sizes: () => sizes,
          allocate: this.allocate,
          tooLong,
        });
        if (answer.status === 404) return undefined;
        // The range starts past the pack's end: none of the run is there.
        if (answer.status === 416) return [];
        if (answer.chunks) return answer.chunks;
        throw s3Error("GET", answer.status, answer.errorBody);
      }
      // A range cannot be empty: a run of empty chunks is a HEAD that the pack is there.
      const res = await this.send(total === 0 ? "HEAD" : "GET", packKey(pack), total === 0 ? {} : { range: `bytes=${offset}-${offset + total - 1}` });
      if (res.statusCode === 404) {
        res.resume();
        return undefined;
      }
      if (res.statusCode === 416) {
        // The range starts past the pack's end: none of the run is there.
        res.resume();
        return [];
      }
      const expected = total === 0 ? 200 : 206;
      if (res.statusCode !== expected) throw s3Error("GET", res.statusCode, await readBody(res, MAX_ERROR_BODY_BYTES, () => new Error("oversized error body")));
      if (total === 0) {
        res.resume();
        return sizes.map(() => Buffer.alloc(0));
      }
      return readInto(res, sizes, this.allocate, tooLong);
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
    this.agent.destroy();
    this.direct?.close();
  }

  /** A HEAD over a presigned URL, like put and get: a stat costs one light request, not minio-js's signing of an empty payload. */
  private sizeOf(ownerKey: string, hash: string): Promise<number | undefined> {
    return guard(async () => {
      const res = await this.send("HEAD", chunkKey(ownerKey, hash), {});
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
async function readBody(res: http.IncomingMessage, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  // Leaving the loop early (the throw) destroys the response stream.
  for await (const part of res as AsyncIterable<Buffer>) {
    total += part.length;
    if (total > maxBytes) throw tooLarge();
    parts.push(part);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}

function totalLength(parts: readonly Buffer[]): number {
  return parts.reduce((total, part) => total + part.length, 0);
}

function totalOf(sizes: readonly number[]): number {
  return sizes.reduce((total, size) => total + size, 0);
}

/**
 * A body that holds `sizes` bytes back to back, read into one buffer per
 * size (each byte copied once, no list of parts joined afterwards); a body
 * that ends short resolves with the chunks it filled, one that goes on fails
 * with `tooLong()`.
 */
async function readInto(res: http.IncomingMessage, sizes: readonly number[], allocate: ChunkAllocator, tooLong: () => Error): Promise<Buffer[]> {
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
  for await (const part of res as AsyncIterable<Buffer>) {
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
    const code = codeOf(err);
    if (code !== undefined && TRANSIENT.has(code)) throw unavailable(`object storage unavailable (${code})`, err);
    throw err;
  }
}
