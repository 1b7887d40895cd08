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
  packWritten(chunks: number, bytes: number): void;
}

/**
 * Chunks in packs (ports/pack-index.ts): the chunks put at the same time go
 * to the object store as one object, and the index says where each one is.
 * Chunks stored as objects of their own before packing was turned on (the
 * `loose` store) stay readable, countable and deletable, so packing can be
 * turned on over an existing bucket; new chunks are only ever packed.
 */
export class PackedChunkStore implements ChunkStore {
  private readonly writer: PackWriter;
  private readonly ahead = new LocationsAhead();

  constructor(
    private readonly index: PackIndex,
    private readonly objects: PackObjects,
    private readonly loose: ChunkStore,
    limits: PackLimits,
    private readonly observer: PackObserver,
  ) {
    this.writer = new PackWriter((chunks) => this.writePack(chunks), limits);
  }

  async has(ownerKey: string, hashes: readonly string[]): Promise<Map<string, number>> {
    const sizes = await this.index.sizes(ownerKey, hashes);
    const rest = hashes.filter((h) => !sizes.has(h));
    if (rest.length > 0) for (const [hash, size] of await this.loose.has(ownerKey, rest)) sizes.set(hash, size);
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
    let at = this.ahead.take(ownerKey, hash) ?? (await this.locateRun(ownerKey, hash));
    if (!at) return this.loose.get(ownerKey, hash);
    for (;;) {
      const data = await this.objects.readPack(at.pack, at.offset, at.size);
      if (data) return data;
      const again = await this.index.locate(ownerKey, hash);
      if (!again) return undefined;
      if (again.pack === at.pack) throw dataLoss(`chunk ${hash} is indexed in pack ${at.pack}, which is missing from object storage`);
      at = again;
    }
  }

  /**
   * The chunk's location, and those of the chunks after it in its pack kept
   * for the reads that follow: one index query for a run of a download's
   * chunks instead of one each.
   */
  private async locateRun(ownerKey: string, hash: string): Promise<PackedLocation | undefined> {
    const [first, ...next] = await this.index.locateRun(ownerKey, hash, LOCATIONS_AHEAD);
    this.ahead.keep(next);
    return first;
  }

  async delete(ownerKey: string, hashes: readonly string[]): Promise<number> {
    const removed = new Set(await this.index.remove(ownerKey, hashes));
    // A loose copy may be left of a packed chunk too (stored loose, packed again): it goes as well.
    const loose = [...(await this.loose.has(ownerKey, hashes)).keys()];
    if (loose.length > 0) await this.loose.delete(ownerKey, loose);
    for (const hash of loose) removed.add(hash);
    return removed.size;
  }

  async quarantine(ownerKey: string, hash: string): Promise<boolean> {
    const at = await this.index.locate(ownerKey, hash);
    if (!at) return this.loose.quarantine(ownerKey, hash);
    const data = await this.objects.readPack(at.pack, at.offset, at.size);
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

  async close(): Promise<void> {
    await this.loose.close();
  }

  /**
   * The pack is stored whole before any of it is recorded, so the index
   * never points at bytes that are not there. A pack whose recording fails
   * is deleted again; one left behind by a crash is found by the repacker
   * (an object the index does not know).
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
    await this.objects.putPack(pack, parts);
    try {
      const recorded = await this.index.addPack(pack, offset, entries);
      this.observer.packWritten(entries.length, offset);
      return recorded;
    } catch (err) {
      await this.objects.deletePacks([pack]).catch(() => undefined);
      throw err;
    }
  }
}

/** Locations looked up ahead per run, and at most kept at once (a few hundred bytes each). */
const LOCATIONS_AHEAD = 32;
const MAX_LOCATIONS_KEPT = 4096;
/** A location kept longer is looked up again: a download reads the chunks of a run within moments. */
const LOCATION_KEPT_MS = 10_000;

/**
 * Locations of chunks a download is likely to read next, each used once.
 * One gone stale (moved by a repack, removed) costs nothing wrong: a moved
 * chunk's old pack is gone and get() looks it up again, and a removed one's
 * bytes are still what its hash names.
 */
class LocationsAhead {
  private readonly kept = new Map<string, { at: PackedLocation; until: number }>();

  keep(entries: readonly (PackedLocation & { ownerKey: string; hash: string })[]): void {
    const until = Date.now() + LOCATION_KEPT_MS;
    for (const e of entries) {
      if (this.kept.size >= MAX_LOCATIONS_KEPT) this.kept.delete(this.kept.keys().next().value!);
      this.kept.set(`${e.ownerKey}/${e.hash}`, { at: { pack: e.pack, offset: e.offset, size: e.size }, until });
    }
  }

  take(ownerKey: string, hash: string): PackedLocation | undefined {
    const key = `${ownerKey}/${hash}`;
    const kept = this.kept.get(key);
    if (!kept) return undefined;
    this.kept.delete(key);
    return kept.until >= Date.now() ? kept.at : undefined;
  }
}
