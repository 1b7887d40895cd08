import { checkChunkPage } from "#lib/chunk-list.js";
import { createHash, type Hash } from "node:crypto";
import { CfsError, dataLoss, failedPrecondition, invalidArgument } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_CHUNKS_PER_FILE, MAX_HASHES_PER_CALL } from "#lib/limits.js";
import type { ChunkReading, ChunkWriter, ChunkWriting } from "../ports/chunk-storage.js";
import type { SessionRecord, UploadSessionStore } from "../ports/upload-sessions.js";
import { sha256Hex } from "./chunking.js";
import type { ContentHashes, ContentHashState } from "./content-hash.js";
import { checkUploadHeader } from "./upload-checks.js";
import type { ChunkRef, ChunkSpec, StoredFile } from "./types.js";

/** Chunks `start`..`start + count - 1` of a session's list. */
export interface IndexRange {
  start: number;
  count: number;
}

export interface SessionHeader {
  name: string;
  contentType: string;
  size: number;
  sha256?: string | undefined;
  chunkCount: number;
}

/** Bytes for a session, as PutChunks delivers them: `index` repositions, the data fills chunks from there. */
export interface ChunkBytes {
  index?: number | undefined;
  data: Buffer;
}

/** Entries of the chunk list fetched from the catalogue at a time. */
const LIST_PAGE = MAX_HASHES_PER_CALL;

/**
 * Upload sessions: the client cuts its file with FastCDC, declares the chunk
 * list, and sends only the chunks the server lacks. The session itself lives
 * in the catalogue (UploadSessionStore), so it survives any process; the only
 * state here is a running content hash, kept to spare a read (ContentHashes).
 *
 * Trust: a declared hash is only a name. A chunk counts as present only when
 * block storage holds it for this caller (never for another user), and every
 * chunk's bytes are hashed here on arrival (and again by block storage before
 * it stores them) and refused when they do not match.
 */
export class UploadSessions {
  constructor(
    private readonly store: UploadSessionStore,
    private readonly blocks: ChunkWriting & ChunkReading,
    private readonly hashes: ContentHashes,
    private readonly maxFileBytes: number,
  ) {}

  async start(header: SessionHeader, page: readonly ChunkSpec[], as: CallIdentity): Promise<{ session: SessionRecord; missing: IndexRange[] }> {
    checkUploadHeader(header, this.maxFileBytes);
    if (!Number.isInteger(header.chunkCount) || header.chunkCount < 0 || header.chunkCount > MAX_CHUNKS_PER_FILE) {
      throw invalidArgument(`chunk_count must be between 0 and ${MAX_CHUNKS_PER_FILE}`);
    }
    checkChunkPage(page);
    const session = await this.store.create(header, page, as);
    return { session, missing: await this.missingOf(page, 0, as) };
  }

  async declare(uploadId: string, firstIndex: number, page: readonly ChunkSpec[], as: CallIdentity): Promise<{ session: SessionRecord; missing: IndexRange[] }> {
    checkChunkPage(page);
    const session = await this.store.append(uploadId, firstIndex, page, as);
    return { session, missing: await this.missingOf(page, firstIndex, as) };
  }

  /** The session and every declared chunk that is not stored yet: what a resumed upload sends. */
  async status(uploadId: string, as: CallIdentity): Promise<{ session: SessionRecord; missing: IndexRange[]; missingBytes: number }> {
    let { session, chunks } = await this.store.get(uploadId, 0, LIST_PAGE, as);
    const missing: IndexRange[] = [];
    let missingBytes = 0;
    for (let first = 0; chunks.length > 0; ) {
      const absent = await this.blocks.missing(distinct(chunks), as);
      for (const chunk of chunks) {
        if (!absent.has(chunk.sha256)) continue;
        addToRanges(missing, chunk.index);
        missingBytes += chunk.size;
      }
      first += chunks.length;
      if (first >= session.chunksDeclared) break;
      ({ session, chunks } = await this.store.get(uploadId, first, LIST_PAGE, as));
    }
    return { session, missing, missingBytes };
  }

  /**
   * Receives chunk bytes for a session and streams them to block storage,
   * each chunk checked against its declared hash as it completes. Chunks
   * completed before a failure stay stored.
   */
  async put(uploadId: string, parts: AsyncIterable<ChunkBytes>, as: CallIdentity): Promise<{ chunksStored: number; bytesStored: number }> {
    const list = new ChunkList(this.store, uploadId, as);
    const state = this.hashes.acquire(uploadId);
    const writer = this.blocks.openWriter(as);
    let current: IncomingChunk | undefined;
    let nextIndex: number | undefined;
    let chunksStored = 0;
    let bytesStored = 0;
    try {
      for await (const part of parts) {
        if (part.index !== undefined) {
          if (current) throw invalidArgument(`chunk ${current.ref.index} is incomplete (${current.received} of ${current.ref.size} bytes) where chunk ${part.index} starts`);
          nextIndex = part.index;
        }
        if (nextIndex === undefined) throw invalidArgument("the first PutChunksRequest must set index");
        let data = part.data;
        while (data.length > 0) {
          if (!current) {
            current = await this.beginChunk(list, await list.at(nextIndex), state, writer, as);
            nextIndex++;
          }
          const take = Math.min(data.length, current.ref.size - current.received);
          const piece = data.subarray(0, take);
          data = data.subarray(take);
          current.hash.update(piece);
          if (current.hashing) state!.hash.update(piece);
          await writer.data(piece);
          current.received += take;
          if (current.received === current.ref.size) {
            if (current.hash.digest("hex") !== current.ref.sha256) {
              throw invalidArgument(`chunk ${current.ref.index}'s bytes do not match its declared sha256 ${current.ref.sha256}`);
            }
            if (current.hashing) state!.next++;
            chunksStored++;
            bytesStored += current.ref.size;
            current = undefined;
          }
        }
      }
      if (current) throw invalidArgument(`the stream ended inside chunk ${current.ref.index} (${current.received} of ${current.ref.size} bytes)`);
      await writer.finish();
    } catch (err) {
      writer.abort();
      // The content hash keeps what was verified: undo a chunk cut off midway.
      if (state && current?.checkpoint) state.hash = current.checkpoint;
      throw err;
    } finally {
      if (state) this.hashes.release(uploadId, state);
    }
    return { chunksStored, bytesStored };
  }

  /**
   * Commits the session's file. The content's SHA-256 comes from the
   * catalogue when a version with the same chunk list exists, else from the
   * running hash continued over the stored chunks it does not cover. A retry
   * after the commit returns the same file and version.
   */
  async finish(uploadId: string, as: CallIdentity): Promise<StoredFile> {
    const { session } = await this.store.get(uploadId, 0, 0, as);
    if (session.file) return session.file;
    if (session.chunksDeclared < session.chunkCount) {
      throw failedPrecondition(`${session.chunksDeclared} of the ${session.chunkCount} chunks of the list are declared; declare the rest first`);
    }
    let sha256 = session.knownSha256;
    if (sha256 === "") {
      // A call still sending holds the running hash: compute a fresh one then.
      const state = this.hashes.acquire(uploadId) ?? { next: 0, hash: createHash("sha256") };
      try {
        await this.advance(new ChunkList(this.store, uploadId, as), state, session.chunkCount, as);
        sha256 = state.hash.copy().digest("hex");
      } finally {
        this.hashes.release(uploadId, state);
      }
    }
    const file = await this.store.commitSession(uploadId, sha256, as);
    this.hashes.discard(uploadId);
    return file;
  }

  async cancel(uploadId: string, as: CallIdentity): Promise<void> {
    await this.store.delete(uploadId, as);
    this.hashes.discard(uploadId);
  }

  private async beginChunk(list: ChunkList, ref: ChunkRef, state: ContentHashState | undefined, writer: ChunkWriter, as: CallIdentity): Promise<IncomingChunk> {
    // Chunks the client skipped (block storage has them) are read to keep
    // the running hash going. One that cannot be read stalls it there, and
    // FinishUpload reads on from that chunk (and reports what is wrong).
    if (state && state.next < ref.index) await this.advance(list, state, ref.index, as).catch(() => undefined);
    const hashing = state !== undefined && state.next === ref.index;
    await writer.begin(ref.sha256, ref.size);
    return { ref, hash: createHash("sha256"), received: 0, hashing, checkpoint: hashing ? state.hash.copy() : undefined };
  }

  /**
   * Feeds the stored chunks state.next..upTo-1 into the running hash, read
   * from block storage and checked again here. A chunk that is not stored
   * stops it with FAILED_PRECONDITION; the state keeps what was read.
   */
  private async advance(list: ChunkList, state: ContentHashState, upTo: number, as: CallIdentity): Promise<void> {
    while (state.next < upTo) {
      const refs = await list.range(state.next, Math.min(upTo, state.next + LIST_PAGE));
      try {
        for await (const data of this.blocks.read(refs, as)) {
          const ref = refs[state.next - refs[0]!.index]!;
          if (data.length !== ref.size || sha256Hex(data) !== ref.sha256) {
            throw dataLoss(`chunk ${ref.index} (sha256 ${ref.sha256}) does not match its hash`);
          }
          state.hash.update(data);
          state.next++;
        }
      } catch (err) {
        if (err instanceof CfsError && err.kind === "not-found") {
          throw failedPrecondition(`chunk ${state.next} is not stored yet; GetUpload lists the chunks still missing`);
        }
        throw err;
      }
    }
  }

  private async missingOf(page: readonly ChunkSpec[], firstIndex: number, as: CallIdentity): Promise<IndexRange[]> {
    if (page.length === 0) return [];
    const absent = await this.blocks.missing(distinct(page), as);
    const ranges: IndexRange[] = [];
    page.forEach((chunk, i) => {
      if (absent.has(chunk.sha256)) addToRanges(ranges, firstIndex + i);
    });
    return ranges;
  }
}

interface IncomingChunk {
  ref: ChunkRef;
  /** This chunk's own hash, compared with its declared one when it is complete. */
  hash: Hash;
  received: number;
  /** Whether its bytes extend the session's running content hash. */
  hashing: boolean;
  /** The running hash before this chunk, to undo a chunk cut off midway. */
  checkpoint: Hash | undefined;
}

/** The session's chunk list, fetched from the catalogue a page at a time as a stream moves through it. */
class ChunkList {
  private page: ChunkRef[] = [];
  private first = 0;
  private declared: number | undefined;

  constructor(
    private readonly store: UploadSessionStore,
    private readonly uploadId: string,
    private readonly as: CallIdentity,
  ) {}

  async at(index: number): Promise<ChunkRef> {
    if (!Number.isInteger(index) || index < 0) throw invalidArgument(`index must not be negative, got ${index}`);
    if (index < this.first || index >= this.first + this.page.length) await this.load(index);
    return this.page[index - this.first]!;
  }

  /** Entries from..to-1, all declared. */
  async range(from: number, to: number): Promise<ChunkRef[]> {
    if (from < this.first || to > this.first + this.page.length) await this.load(from);
    return this.page.slice(from - this.first, to - this.first);
  }

  private async load(index: number): Promise<void> {
    if (this.declared !== undefined && index >= this.declared) throw notDeclared(index, this.declared);
    const { session, chunks } = await this.store.get(this.uploadId, index, LIST_PAGE, this.as);
    if (session.file) throw failedPrecondition("the upload is committed already; nothing more can be sent to it");
    this.declared = session.chunksDeclared;
    if (chunks.length === 0) throw notDeclared(index, session.chunksDeclared);
    this.page = chunks;
    this.first = index;
  }
}

function notDeclared(index: number, declared: number): CfsError {
  return invalidArgument(`chunk ${index} is not in the declared chunk list (${declared} chunks declared)`);
}


function distinct(chunks: ReadonlyArray<{ sha256: string }>): string[] {
  return [...new Set(chunks.map((c) => c.sha256))];
}

/** Adds an index (ascending) to a list of ranges, extending the last one when adjacent. */
function addToRanges(ranges: IndexRange[], index: number): void {
  const last = ranges.at(-1);
  if (last && last.start + last.count === index) last.count++;
  else ranges.push({ start: index, count: 1 });
}

