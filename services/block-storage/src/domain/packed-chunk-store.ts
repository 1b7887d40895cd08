import { randomBytes } from "node:crypto";
import { dataLoss } from "#lib/errors.js";
import { isAfter, type ChunkPosition, type ChunkStore, type ListedChunk, type QuarantinedChunk } from "../ports/chunk-store.js";
import type { PackedLocation, PackIndex } from "../ports/pack-index.js";
import type { PackObjects } from "../ports/pack-objects.js";
import { PackWriter, type PackLimits, type PendingChunk } from "./pack-writer.js";

/** A new pack's name: 128 random bits in hex, never reused. */
export function newPackName(): string {
  return randomBytes(16).toString("hex");
}

/** What the packed store reports (metrics). */
export interface PackObserver {
  /** A pack written for puts: kept by the index (`inline`) or as an object. */
  packWritten(chunks: number, bytes: number, inline: boolean): void;
}

export interface PackedStoreLimits extends PackLimits {
  /**
   * A pack of at most this many bytes is kept by the index itself instead of
   * as an object (0: never): a small upload then costs one index statement
   * instead of an object PUT and then that statement.
   */
  inlinePackBytes: number;
}

/**
 * How long the packed store trusts what it last saw of the loose store:
 * whether it holds any chunk at all. The loose store gets new chunks only from
 * a replica that does not pack yet (a rolling change to packing), so for this
 * long after its first such chunk a packing replica may answer has() without
 * it: the chunker then sends that chunk again (packed) and a commit that
 * counted on it fails with FAILED_PRECONDITION, to be retried; a delete may
 * leave its loose copy, which the sweep (it lists the loose store itself)
 * removes later. Nothing is lost.
 */
export const LOOSE_RECHECK_MS = 60_000;

export interface PackedStoreOptions {
  /** Milliseconds, default Date.now (tests move it past LOOSE_RECHECK_MS). */
  clock?: () => number;
}

/**
 * Chunks in packs (ports/pack-index.ts): the chunks put at the same time go
 * to the object store as one object, and the index says where each one is.
 * A pack of at most `inlinePackBytes` is kept by the index instead (small
 * files: what arrives while no pack is being written leaves alone, and an
 * object PUT of a few KiB costs more than the index statement it comes with).
 * Chunks stored as objects of their own before packing was turned on (the
 * `loose` store) stay readable, countable and deletable, so packing can be
 * turned on over an existing bucket; new chunks are only ever packed.
 */
export class PackedChunkStore implements ChunkStore {
  private readonly writer: PackWriter;
  private readonly inlinePackBytes: number;
  private readonly clock: () => number;
  /** The last look at the loose store (started at `at`): does it hold any chunk? */
  private looseLook: { at: number; holdsChunks: Promise<boolean> } | undefined;

  constructor(
    private readonly index: PackIndex,
    private readonly objects: PackObjects,
    private readonly loose: ChunkStore,
    limits: PackedStoreLimits,
    private readonly observer: PackObserver,
    options: PackedStoreOptions = {},
  ) {
    this.writer = new PackWriter((chunks) => this.writePack(chunks), limits);
    this.inlinePackBytes = limits.inlinePackBytes;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * What the index does not know is looked for loose only while the loose
   * store holds chunks at all: a bucket that was packed from the start is
   * never asked (that was one HEAD per new chunk of every upload).
   */
  async has(ownerKey: string, hashes: readonly string[]): Promise<Map<string, number>> {
    const sizes = await this.index.sizes(ownerKey, hashes);
    const rest = hashes.filter((h) => !sizes.has(h));
    if (rest.length > 0 && (await this.looseHoldsChunks())) for (const [hash, size] of await this.loose.has(ownerKey, rest)) sizes.set(hash, size);
    return sizes;
  }

  /**
   * Resolves once the chunk's pack is stored and recorded. A chunk stored
   * loose before packing is packed again here (its loose copy is deleted
   * with it): asking first would cost every put a lookup.
   */
  put(ownerKey: string, hash: string, parts: readonly Buffer[]): Promise<boolean> {
    let size = 0;
    for (const part of parts) size += part.length;
    return this.writer.put({ ownerKey, hash, parts, size });
  }

  /**
   * A located chunk whose pack is gone was moved by a repack between the
   * lookup and the read (it records the new pack before deleting the old):
   * it is looked up once more. Still gone is data loss.
   */
  async get(ownerKey: string, hash: string): Promise<Buffer | undefined> {
    let at = await this.index.locate(ownerKey, hash);
    if (!at) return this.loose.get(ownerKey, hash);
    for (;;) {
      const data = await this.readOne(at);
      if (data) return data;
      const again = await this.index.locate(ownerKey, hash);
      if (!again) return undefined;
      if (again.pack === at.pack) {
        throw dataLoss(
          at.inline
            ? `chunk ${hash} lies past the end of its pack ${at.pack}, kept in the index`
            : `chunk ${hash} is indexed in pack ${at.pack}, which is missing from object storage`,
        );
      }
      at = again;
    }
  }

  /**
   * One index lookup for all of them, then one read for each run of up to
   * `ahead` chunks that lie back to back in one pack (a file's chunks are
   * put in order, so a download's are mostly such runs). Each run is read
   * whole, the next one while the caller takes this one's chunks: at most
   * two runs are held, and no request to the object store waits on a slow
   * reader. A run whose pack a repack deleted since the lookup is read chunk
   * by chunk, as get() reads one.
   */
  async *getMany(ownerKey: string, hashes: readonly string[], ahead: number): AsyncGenerator<Buffer | undefined> {
    const runs = runsOf(hashes, await this.index.locateMany(ownerKey, hashes), Math.max(1, ahead));
    let next: Promise<Array<Buffer | undefined>> | undefined;
    const startReading = (run: ReadRun | undefined) => {
      next = run && isPackRun(run) ? this.readRun(ownerKey, run) : undefined;
      // Its error surfaces when its run is due, or not at all once the caller stopped.
      next?.catch(() => undefined);
    };
    startReading(runs[0]);
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i]!;
      if (!isPackRun(run)) {
        yield* this.loose.getMany(ownerKey, run.hashes, ahead);
        startReading(runs[i + 1]);
        continue;
      }
      const chunks = await next!;
      startReading(runs[i + 1]);
      yield* chunks;
      if (chunks.length < run.hashes.length) {
        throw dataLoss(`pack ${run.pack} holds fewer bytes than its index says (chunk ${run.hashes[chunks.length]} is past its end)`);
      }
    }
  }

  private async readRun(ownerKey: string, run: PackRun): Promise<Array<Buffer | undefined>> {
    const chunks = run.inline ? await this.index.readInline(run.pack, run.offset, run.sizes) : await this.objects.readChunks(run.pack, run.offset, run.sizes);
    if (chunks) return chunks;
    const again: Array<Buffer | undefined> = [];
    for (const hash of run.hashes) again.push(await this.get(ownerKey, hash));
    return again;
  }

  async delete(ownerKey: string, hashes: readonly string[]): Promise<number> {
    const removed = new Set(await this.index.remove(ownerKey, hashes));
    // A loose copy may be left of a packed chunk too (stored loose, packed again): it goes as well.
    const loose = (await this.looseHoldsChunks()) ? [...(await this.loose.has(ownerKey, hashes)).keys()] : [];
    if (loose.length > 0) await this.loose.delete(ownerKey, loose);
    for (const hash of loose) removed.add(hash);
    return removed.size;
  }

  async quarantine(ownerKey: string, hash: string): Promise<boolean> {
    const at = await this.index.locate(ownerKey, hash);
    if (!at) return this.loose.quarantine(ownerKey, hash);
    const data = await this.readOne(at);
    if (data) await this.objects.quarantineBytes(ownerKey, hash, data);
    const removed = (await this.index.remove(ownerKey, [hash])).length > 0;
    // Its loose copy, if any, was read as well: whichever was bad, neither is served again.
    await this.loose.quarantine(ownerKey, hash);
    return removed;
  }

  listQuarantined(after: QuarantinedChunk, limit: number): Promise<QuarantinedChunk[]> {
    return this.loose.listQuarantined(after, limit);
  }

  /** Packed and loose chunks merged in key order (a chunk in both listed once). */
  async list(after: ChunkPosition | undefined, limit: number): Promise<ListedChunk[]> {
    const [packed, loose] = await Promise.all([this.index.list(after, limit), this.loose.list(after, limit)]);
    const out: ListedChunk[] = [];
    let p = 0;
    let l = 0;
    while (out.length < limit && (p < packed.length || l < loose.length)) {
      const a = packed[p];
      const b = loose[l];
      if (a && b && a.ownerKey === b.ownerKey && a.hash === b.hash) {
        out.push(a);
        p += 1;
        l += 1;
      } else if (a && (!b || isAfter(b, a))) {
        out.push(a);
        p += 1;
      } else {
        out.push(b!);
        l += 1;
      }
    }
    return out;
  }

  async check(): Promise<void> {
    await Promise.all([this.index.check(), this.loose.check()]);
  }

  /** One listing of a single key at most every LOOSE_RECHECK_MS (a failed one is not kept). */
  private looseHoldsChunks(): Promise<boolean> {
    const now = this.clock();
    if (this.looseLook && now - this.looseLook.at < LOOSE_RECHECK_MS) return this.looseLook.holdsChunks;
    const look = { at: now, holdsChunks: this.loose.list(undefined, 1).then((first) => first.length > 0) };
    look.holdsChunks.catch(() => {
      if (this.looseLook === look) this.looseLook = undefined;
    });
    this.looseLook = look;
    return look.holdsChunks;
  }

  async close(): Promise<void> {
    await this.loose.close();
  }

  /** A located chunk's bytes, unverified; undefined when its pack is gone. */
  private async readOne(at: PackedLocation): Promise<Buffer | undefined> {
    if (!at.inline) return this.objects.readPack(at.pack, at.offset, at.size);
    return (await this.index.readInline(at.pack, at.offset, [at.size]))?.[0];
  }

  /**
   * The pack is stored whole before any of it is recorded, so the index
   * never points at bytes that are not there. A pack whose recording fails
   * is deleted again; one left behind by a crash is found by the repacker
   * (an object the index does not know). A small one is recorded with its
   * bytes, in the same statement.
   */
  private async writePack(chunks: readonly PendingChunk[]): Promise<boolean[]> {
    const pack = newPackName();
    const entries = [];
    const parts: Buffer[] = [];
    let offset = 0;
    for (const c of chunks) {
      entries.push({ ownerKey: c.ownerKey, hash: c.hash, offset, size: c.size });
      parts.push(...c.parts);
      offset += c.size;
    }
    if (this.inlinePackBytes > 0 && offset <= this.inlinePackBytes) {
      const recorded = await this.index.addPack(pack, offset, entries, Buffer.concat(parts, offset));
      this.observer.packWritten(entries.length, offset, true);
      return recorded;
    }
    await this.objects.putPack(pack, parts);
    try {
      const recorded = await this.index.addPack(pack, offset, entries);
      this.observer.packWritten(entries.length, offset, false);
      return recorded;
    } catch (err) {
      await this.objects.deletePacks([pack]).catch(() => undefined);
      throw err;
    }
  }
}

/** Hashes to read together: back to back in one pack from `offset`, or (no pack) not indexed, so loose or absent. */
interface ReadRun {
  pack: string | undefined;
  /** The pack is kept by the index. */
  inline: boolean;
  offset: number;
  hashes: string[];
  sizes: number[];
}

type PackRun = ReadRun & { pack: string };

function isPackRun(run: ReadRun): run is PackRun {
  return run.pack !== undefined;
}

/**
 * `hashes` in order, cut into runs: a run of a pack ends where the next
 * chunk is elsewhere or not right after it, or at `maxChunks`.
 */
function runsOf(hashes: readonly string[], located: ReadonlyMap<string, PackedLocation>, maxChunks: number): ReadRun[] {
  const runs: ReadRun[] = [];
  let run: ReadRun | undefined;
  let end = 0;
  for (const hash of hashes) {
    const at = located.get(hash);
    const continues =
      run !== undefined && (at ? run.pack === at.pack && at.offset === end && run.hashes.length < maxChunks : run.pack === undefined);
    if (!continues) {
      run = { pack: at?.pack, inline: at?.inline ?? false, offset: at?.offset ?? 0, hashes: [], sizes: [] };
      runs.push(run);
    }
    run!.hashes.push(hash);
    if (at) {
      run!.sizes.push(at.size);
      end = at.offset + at.size;
    }
  }
  return runs;
}
