import { createHmac, timingSafeEqual, type Hmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { MAX_HASHES_PER_CALL, SHA256_HEX } from "./limits.js";

/**
 * Chunk receipts: block storage's word, at the end of a PutChunks stream,
 * that every chunk the stream carried was stored for its owner (written by
 * the stream, or found stored) at some moment after the stream began, which
 * is the time the receipt names. The chunker hands the receipt on with the commit, and
 * metadata takes it in place of asking block storage again (HasChunks): one
 * round trip fewer between the upload's last byte and its answer. A receipt
 * is an HMAC-SHA256 under a key that only block storage and metadata hold
 * (CFS_CHUNK_RECEIPT_KEY_FILE), so neither a client nor the chunker can make
 * one up; metadata accepts it for RECEIPT_MAX_AGE_MS, and asks block storage
 * about every chunk no valid receipt covers, as it always did.
 */

/** One chunk a receipt vouches for. */
export interface ReceiptChunk {
  sha256: string;
  size: number;
}

/** A receipt as it travels: when its stream began, and its MAC. */
export interface ChunkReceipt {
  issuedAtMs: number;
  mac: Buffer;
}

/** A receipt with the chunks it covers, as the chunker hands it to metadata. */
export interface ReceiptWithChunks extends ChunkReceipt {
  /** In the order the stream carried them. */
  chunks: readonly ReceiptChunk[];
}

/**
 * How long metadata takes a receipt for. It replaces a presence check made
 * a few milliseconds before the commit: the one guard it weakens is against
 * the collector deleting, within that time, a chunk that had been unused
 * for the whole grace period (CFS_GC_GRACE_SECONDS, an hour) and that this
 * upload happened to contain. A small upload commits within milliseconds of
 * its receipt; one that takes longer is checked as before.
 */
export const RECEIPT_MAX_AGE_MS = 5_000;

/** How far ahead of metadata's clock block storage's may be before a receipt is refused. */
export const RECEIPT_CLOCK_SKEW_MS = 1_000;

/** A stream of more chunks gets no receipt (its commit asks block storage, a batch of hashes at a time). */
export const RECEIPT_MAX_CHUNKS = MAX_HASHES_PER_CALL;

/** The shortest key accepted, in bytes. */
const MIN_KEY_BYTES = 32;

/** Reads a receipt key from a file (trailing newlines dropped); undefined when no file is named. */
export async function loadReceiptKey(file: string | undefined): Promise<ReceiptKey | undefined> {
  if (file === undefined) return undefined;
  const secret = (await readFile(file, "utf8")).replace(/[\r\n]+$/, "");
  return new ReceiptKey(secret);
}

/** The MAC of a receipt, built up chunk by chunk in the order the stream carried them. */
export class ReceiptMac {
  private readonly hmac: Hmac;
  private chunks = 0;

  constructor(secret: Buffer, owner: string, issuedAtMs: number) {
    // Every field is delimited so that no two claims share an input: the
    // owner by its length (a subject may hold any character), then the time.
    this.hmac = createHmac("sha256", secret).update(`cfs-chunk-receipt-v1\n${Buffer.byteLength(owner, "utf8")}:${owner}\n${issuedAtMs}\n`, "utf8");
  }

  add(chunk: ReceiptChunk): void {
    this.hmac.update(`${chunk.sha256} ${chunk.size}\n`, "latin1");
    this.chunks++;
  }

  /** The MAC, or undefined for a stream of no chunk or of more than RECEIPT_MAX_CHUNKS. */
  digest(): Buffer | undefined {
    const mac = this.hmac.digest();
    return this.chunks > 0 && this.chunks <= RECEIPT_MAX_CHUNKS ? mac : undefined;
  }
}

/** The key block storage signs receipts with and metadata checks them with. */
export class ReceiptKey {
  private readonly secret: Buffer;

  constructor(secret: string) {
    this.secret = Buffer.from(secret, "utf8");
    if (this.secret.length < MIN_KEY_BYTES) throw new Error(`a chunk receipt key needs at least ${MIN_KEY_BYTES} bytes, got ${this.secret.length}`);
  }

  /** Starts the receipt of a stream that began at `issuedAtMs`. */
  begin(owner: string, issuedAtMs: number): ReceiptMac {
    return new ReceiptMac(this.secret, owner, issuedAtMs);
  }

  /** The MAC of a whole list at once (what begin() builds chunk by chunk); undefined when no receipt is given for it. */
  macOf(owner: string, issuedAtMs: number, chunks: readonly ReceiptChunk[]): Buffer | undefined {
    const mac = this.begin(owner, issuedAtMs);
    for (const chunk of chunks) mac.add(chunk);
    return mac.digest();
  }

  /** Whether `receipt` was issued under this key for exactly these chunks of `owner`, in this order. */
  verifies(owner: string, chunks: readonly ReceiptChunk[], receipt: ChunkReceipt): boolean {
    if (chunks.length === 0 || chunks.length > RECEIPT_MAX_CHUNKS || !Number.isSafeInteger(receipt.issuedAtMs)) return false;
    // Only well-formed entries are hashed, so no entry can pass for two.
    if (!chunks.every((c) => SHA256_HEX.test(c.sha256) && Number.isSafeInteger(c.size) && c.size >= 0)) return false;
    const expected = this.macOf(owner, receipt.issuedAtMs, chunks);
    return expected !== undefined && receipt.mac.length === expected.length && timingSafeEqual(receipt.mac, expected);
  }
}
