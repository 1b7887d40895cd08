import { createHash } from "node:crypto";
import type { Principal } from "#lib/auth.js";
import { CfsError, dataLoss, invalidArgument, notFound, permissionDenied } from "#lib/errors.js";
import type { ChunkStore, ListedChunk, QuarantinedChunk } from "../ports/chunk-store.js";
import { MAX_HASHES_PER_CALL, MAX_OWNER_LENGTH, SHA256_HEX } from "#lib/limits.js";
import type { ChunkReceipt, ReceiptKey, ReceiptMac } from "#lib/chunk-receipts.js";
import { isIntact, type Quarantine } from "./quarantine.js";

/** What a PutChunk declares before its bytes. */
export interface ChunkHeader {
  sha256: string;
  size: number;
  /** Empty means the caller. */
  owner: string;
}

export interface StoredChunk {
  sha256: string;
  size: number;
}

/** One chunk of a PutChunks stream: its header, then its bytes. */
export interface IncomingChunk {
  header: ChunkHeader;
  parts: AsyncIterable<Buffer>;
}

export interface StreamResult {
  /** Chunks this stream wrote (the others were stored already). */
  created: number;
  /** Chunks the stream carried. */
  stored: number;
  /**
   * That every chunk the stream carried, in the order it carried them, is
   * stored (lib/chunk-receipts.ts); absent without a receipt key, for a
   * stream of no chunk and for one of more than RECEIPT_MAX_CHUNKS.
   */
  receipt?: ChunkReceipt;
}

export interface Concurrency {
  /**
   * Chunks being written to the store while the next one arrives. A write
   * is mostly waiting (fsync, an object store round trip), so overlapping a
   * few hides it; memory is about this many chunks.
   */
  writesInFlight: number;
  /** Chunks read (and verified) ahead of the one being sent. */
  readsAhead: number;
}

/**
 * The key under which an owner's chunks are stored: the hex SHA-256 of the
 * owner, so any subject (slashes, dots, unicode, 512 characters) is a safe
 * path segment or object-name prefix, and the key reveals no user name.
 */
export function ownerKeyOf(owner: string): string {
  return createHash("sha256").update(owner, "utf8").digest("hex");
}

/**
 * Keeps chunks per owner, addressed by their SHA-256. There is no dedup
 * across owners: whether a chunk exists for someone else must not be
 * observable. Every write is verified against its hash before it is stored
 * and every read before it is returned; a chunk read bad is quarantined.
 */
export class BlockService {
  constructor(
    private readonly store: ChunkStore,
    private readonly maxChunkBytes: number,
    private readonly quarantine: Quarantine,
    private readonly concurrency: Concurrency = { writesInFlight: 4, readsAhead: 4 },
    private readonly receiptKey?: ReceiptKey,
    /**
     * Called with a chunk's parts once the store has put it: nothing reads
     * them any more (ChunkStore.put keeps none), so their memory may be used
     * again (main.ts gives it back to the pool received messages are joined into).
     */
    private readonly releaseParts?: (parts: readonly Buffer[]) => void,
  ) {}

  /**
   * Stores every chunk of a stream. Each is verified as in put() and written
   * as soon as its last byte arrives, with a few writes overlapping the
   * receipt of the next chunks (when they are all busy, reading stops: a slow
   * store slows the sender). Chunks before a failure stay stored; no write is
   * still running when this settles. A stream that stored all it carried
   * gets a receipt for them, dated when it began (before any of them was
   * written or found).
   */
  async putStream(principal: Principal, chunks: AsyncIterable<IncomingChunk>): Promise<StreamResult> {
    const began = Date.now();
    let created = 0;
    const writing = new Set<Promise<void>>();
    let failure: { err: unknown } | undefined;
    let stored = 0;
    let owner: string | undefined;
    let mac: ReceiptMac | undefined;
    try {
      for await (const { header, parts } of chunks) {
        if (failure) break;
        const chunkOwner = resolveOwner(principal, header.owner);
        if (owner !== undefined && chunkOwner !== owner) throw invalidArgument("every chunk of one PutChunks stream must have the same owner");
        owner = chunkOwner;
        const chunk = await this.receive(header, parts);
        mac ??= this.receiptKey?.begin(chunkOwner, began);
        mac?.add({ sha256: chunk.sha256, size: header.size });
        const write: Promise<void> = this.store
          .put(ownerKeyOf(chunkOwner), chunk.sha256, chunk.parts)
          .then((wrote) => {
            stored++;
            if (wrote) created++;
            this.releaseParts?.(chunk.parts);
          })
          .catch((err: unknown) => {
            failure ??= { err };
          })
          .finally(() => writing.delete(write));
        writing.add(write);
        while (writing.size >= this.concurrency.writesInFlight) await Promise.race(writing);
      }
    } finally {
      await Promise.all(writing);
    }
    if (failure) throw failure.err;
    const receiptMac = mac?.digest();
    return { created, stored, ...(receiptMac && { receipt: { issuedAtMs: began, mac: receiptMac } }) };
  }

  /**
   * The chunks' bytes in request order, each verified before it is yielded;
   * a few are read ahead. The first missing or corrupt chunk ends the stream
   * with NOT_FOUND or DATA_LOSS.
   */
  async *readMany(principal: Principal, sha256s: readonly string[], requestedOwner: string): AsyncGenerator<Buffer> {
    const owner = resolveOwner(principal, requestedOwner);
    if (sha256s.length > MAX_HASHES_PER_CALL) {
      throw invalidArgument(`at most ${MAX_HASHES_PER_CALL} hashes per call, got ${sha256s.length}`);
    }
    sha256s.forEach((hash, i) => checkHash(hash, `sha256s[${i}]`));
    const ownerKey = ownerKeyOf(owner);
    const chunks = this.store.getMany(ownerKey, sha256s, this.concurrency.readsAhead);
    try {
      for (const hash of sha256s) {
        yield await this.readVerified(ownerKey, hash, async () => {
          const next = await chunks.next();
          if (next.done) throw new Error(`the chunk store ended a read of ${sha256s.length} chunks early`);
          return next.value;
        });
      }
    } finally {
      await chunks.return(undefined);
    }
  }

  /**
   * Stores a chunk from its data parts. The bytes are hashed as they arrive
   * and a part that goes past the declared size fails the call at once, so
   * no more than `size` bytes are ever held; nothing is stored unless the
   * whole chunk matches its hash. Resolves false when it was already stored.
   */
  async put(principal: Principal, header: ChunkHeader, parts: AsyncIterable<Buffer>): Promise<boolean> {
    const owner = resolveOwner(principal, header.owner);
    const chunk = await this.receive(header, parts);
    return this.store.put(ownerKeyOf(owner), chunk.sha256, chunk.parts);
  }

  /**
   * A chunk's parts, collected and verified against its header. They are
   * kept as they came, and the store writes them one after the other:
   * copying a chunk that came in several messages into one fresh buffer
   * cost about 0.9 CPU-s per GiB uploaded, mostly faulting in the pages of
   * that buffer (1 to 4 MiB, so mmapped).
   */
  private async receive(header: ChunkHeader, incoming: AsyncIterable<Buffer>): Promise<{ sha256: string; parts: Buffer[] }> {
    const sha256 = checkHash(header.sha256, "sha256");
    const size = header.size;
    if (!Number.isSafeInteger(size) || size < 0) throw invalidArgument(`size must be a non-negative integer, got ${size}`);
    if (size > this.maxChunkBytes) throw invalidArgument(`size ${size} exceeds the largest chunk accepted (${this.maxChunkBytes} bytes)`);

    const hash = createHash("sha256");
    const parts: Buffer[] = [];
    let received = 0;
    for await (const part of incoming) {
      if (part.length > size - received) {
        throw invalidArgument(`chunk ${sha256}: more bytes than the declared size ${size}`);
      }
      hash.update(part);
      parts.push(part);
      received += part.length;
    }
    if (received < size) throw invalidArgument(`chunk ${sha256}: ${received} bytes received, ${size} declared`);
    const actual = hash.digest("hex");
    if (actual !== sha256) throw invalidArgument(`chunk bytes do not match sha256 ${sha256} (they hash to ${actual})`);
    return { sha256, parts };
  }

  /** The chunk's bytes, verified: bytes that no longer match their hash are DATA_LOSS, never returned. */
  async get(principal: Principal, sha256: string, requestedOwner: string): Promise<Buffer> {
    const owner = resolveOwner(principal, requestedOwner);
    const ownerKey = ownerKeyOf(owner);
    const hash = checkHash(sha256, "sha256");
    return this.readVerified(ownerKey, hash, () => this.store.get(ownerKey, hash));
  }

  /**
   * Bytes that no longer match their hash (or an object larger than any
   * chunk) are quarantined before the call fails with DATA_LOSS: from then
   * on has() leaves the chunk out, so the next upload of it stores it again.
   */
  private async readVerified(ownerKey: string, hash: string, read: () => Promise<Buffer | undefined>): Promise<Buffer> {
    let data: Buffer | undefined;
    try {
      data = await read();
    } catch (err) {
      if (err instanceof CfsError && err.kind === "data-loss") await this.quarantine.isolate(ownerKey, hash, "read");
      throw err;
    }
    if (data === undefined) throw notFound(`chunk ${hash} not found`);
    if (!isIntact(data, hash)) {
      await this.quarantine.isolate(ownerKey, hash, "read");
      throw dataLoss(`chunk ${hash} is corrupted: its stored bytes no longer match its sha256 (quarantined; uploading the content again stores it anew)`);
    }
    return data;
  }

  /** Which of the hashes the owner has, with their sizes, in request order (duplicates once). */
  async has(principal: Principal, sha256s: readonly string[], requestedOwner: string): Promise<StoredChunk[]> {
    const owner = resolveOwner(principal, requestedOwner);
    const hashes = checkHashList(sha256s);
    if (hashes.length === 0) return [];
    const present = await this.store.has(ownerKeyOf(owner), hashes);
    return hashes.flatMap((sha256) => {
      const size = present.get(sha256);
      return size === undefined ? [] : [{ sha256, size }];
    });
  }

  /**
   * Deletes the owner's chunks among the hashes; absent ones are ignored.
   * Only the metadata service's collector may delete: it alone knows which
   * chunks no file references any more, so a user's call could only break
   * the user's own files.
   */
  async delete(principal: Principal, sha256s: readonly string[], requestedOwner: string, requestedOwnerKey = ""): Promise<number> {
    if (!principal.isService) throw permissionDenied("only the cfs collector deletes chunks");
    let ownerKey: string;
    if (requestedOwnerKey !== "") {
      // The sweep names chunks as ListChunks listed them.
      if (requestedOwner !== "") throw invalidArgument("name the owner or its key, not both");
      ownerKey = checkHash(requestedOwnerKey, "owner_key");
    } else {
      ownerKey = ownerKeyOf(resolveOwner(principal, requestedOwner));
    }
    const hashes = checkHashList(sha256s);
    if (hashes.length === 0) return 0;
    return this.store.delete(ownerKey, hashes);
  }

  /**
   * Every stored chunk, in key order, from just after the given one (both
   * empty: from the first). Only a service identity may list (metadata's
   * sweep): the listing spans every owner.
   */
  async list(principal: Principal, afterOwnerKey: string, afterSha256: string, pageSize: number): Promise<ListedChunk[]> {
    if (!principal.isService) throw permissionDenied("only a cfs service lists chunks");
    checkPageSize(pageSize);
    const after =
      afterOwnerKey === "" && afterSha256 === ""
        ? undefined
        : { ownerKey: checkHash(afterOwnerKey, "after_owner_key"), hash: checkHash(afterSha256, "after_sha256") };
    return this.store.list(after, pageSize || MAX_HASHES_PER_CALL);
  }

  /**
   * The chunks quarantined after the given place (see ChunkStore
   * listQuarantined), for metadata's damage reports. Only a service
   * identity may list: the listing spans every owner.
   */
  async listQuarantined(principal: Principal, after: QuarantinedChunk, pageSize: number): Promise<QuarantinedChunk[]> {
    if (!principal.isService) throw permissionDenied("only a cfs service lists quarantined chunks");
    checkPageSize(pageSize);
    if (Number.isNaN(after.quarantinedAt.getTime())) throw invalidArgument("after_quarantined_at is not a valid time");
    const place =
      after.ownerKey === "" && after.hash === ""
        ? after
        : { quarantinedAt: after.quarantinedAt, ownerKey: checkHash(after.ownerKey, "after_owner_key"), hash: checkHash(after.hash, "after_sha256") };
    return this.store.listQuarantined(place, pageSize || MAX_HASHES_PER_CALL);
  }
}

function checkPageSize(pageSize: number): void {
  if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_HASHES_PER_CALL) {
    throw invalidArgument(`page_size must be 0 to ${MAX_HASHES_PER_CALL}`);
  }
}

/**
 * Whose chunks a call touches. A user acts only for itself (naming itself is
 * allowed); a cfs service acts for users and must say which, so a missing
 * owner never silently lands in the service's own namespace.
 */
function resolveOwner(principal: Principal, owner: string): string {
  if (principal.isService) {
    if (owner === "") throw invalidArgument("a service identity must name the owner");
    if (owner.length > MAX_OWNER_LENGTH) throw invalidArgument(`owner is longer than ${MAX_OWNER_LENGTH} characters`);
    return owner;
  }
  if (owner !== "" && owner !== principal.subject) throw permissionDenied("only a cfs service may act for another owner");
  return principal.subject;
}

function checkHash(value: string, field: string): string {
  if (!SHA256_HEX.test(value)) throw invalidArgument(`${field} must be 64 lowercase hex characters`);
  return value;
}

/** Validates every hash and drops duplicates, keeping the first occurrence's order. */
function checkHashList(sha256s: readonly string[]): string[] {
  if (sha256s.length > MAX_HASHES_PER_CALL) {
    throw invalidArgument(`at most ${MAX_HASHES_PER_CALL} hashes per call, got ${sha256s.length}`);
  }
  sha256s.forEach((hash, i) => checkHash(hash, `sha256s[${i}]`));
  return [...new Set(sha256s)];
}
