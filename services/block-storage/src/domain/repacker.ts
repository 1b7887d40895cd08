import { createHash } from "node:crypto";
import type { PackEntry, PackMaintenance, SparsePack } from "../ports/pack-index.js";
import type { PackObjects } from "../ports/pack-objects.js";
import { newPackName } from "./packed-chunk-store.js";

export interface RepackSettings {
  /** A pack whose live bytes are at most this share of it is rewritten (CFS_REPACK_MAX_LIVE_PERCENT). */
  maxLiveRatio: number;
  /** Packs younger than this are left alone: their deletes are often still coming in. */
  minAgeMs: number;
  /** How long a claimed pack is someone's before another replica may take it over. */
  claimMs: number;
  /** Packs claimed per run. */
  packsPerRun: number;
  /** An object under packs/ that the index does not know and is older than this was left by a write that never got recorded. */
  orphanAgeMs: number;
  /** Pack objects looked at per run by the orphan sweep. */
  sweepPageSize: number;
}

export interface RepackResult {
  /** Packs rewritten (their live chunks copied into a new one) and deleted. */
  packsRepacked: number;
  /** Packs deleted with nothing left in them. */
  packsEmptied: number;
  /** Live chunks copied into new packs. */
  chunksMoved: number;
  /** Live bytes copied. */
  bytesMoved: number;
  /** Chunks left where they were because they no longer match their hash (the scrubber quarantines them). */
  chunksBad: number;
  /** Pack objects deleted that no index entry pointed into. */
  orphansDeleted: number;
}

/** What the repacker reports (metrics, logs): every run's result. */
export interface RepackObserver {
  repacked(result: RepackResult): void;
}

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

/**
 * Frees the space of deleted chunks. A delete only drops a chunk from the
 * index; its bytes stay in their pack until the pack is mostly dead space
 * (at most maxLiveRatio live), when the live chunks are copied into a new
 * pack, verified on the way, the index pointed at it in one transaction,
 * and the old pack deleted. A reader that located a chunk in the old pack
 * just before finds it gone and looks again (PackedChunkStore.get). A pack
 * kept by the index (inline) is claimed only once empty, and only its row
 * is dropped.
 */
export class Repacker {
  /** Where the orphan sweep goes on from ("" from the start). */
  private sweptTo = "";

  constructor(
    private readonly index: PackMaintenance,
    private readonly objects: PackObjects,
    private readonly settings: RepackSettings,
    private readonly observer: RepackObserver,
  ) {}

  /**
   * Rewrites (or deletes) the packs due, then sweeps one page of pack
   * objects for orphans; resolves what it did, and `more` when packs may
   * still be due.
   */
  async runOnce(signal: AbortSignal, now = new Date()): Promise<RepackResult & { more: boolean }> {
    const { maxLiveRatio, minAgeMs, claimMs, packsPerRun, sweepPageSize } = this.settings;
    const due = await this.index.claimSparsePacks(maxLiveRatio, new Date(now.getTime() - minAgeMs), claimMs, packsPerRun);
    const result: RepackResult = { packsRepacked: 0, packsEmptied: 0, chunksMoved: 0, bytesMoved: 0, chunksBad: 0, orphansDeleted: 0 };
    for (const sparse of due) {
      if (signal.aborted) break;
      await this.repack(sparse, result);
    }
    if (!signal.aborted) await this.sweepOrphans(sweepPageSize, now, result);
    this.observer.repacked(result);
    return { ...result, more: due.length === packsPerRun };
  }

  private async repack(sparse: SparsePack, result: RepackResult): Promise<void> {
    const live = await this.index.liveEntries(sparse.pack);
    if (live.length === 0) {
      if (await this.index.dropEmptyPack(sparse.pack)) {
        // An inline pack's bytes went with its row.
        if (!sparse.inline) await this.objects.deletePacks([sparse.pack]);
        result.packsEmptied += 1;
      }
      return;
    }
    // One ranged read from the first live byte to the last (a pack is at most a few MiB).
    const start = live[0]!.offset;
    const last = live[live.length - 1]!;
    const span = await this.objects.readPack(sparse.pack, start, last.offset + last.size - start);
    // Gone: repacked by a replica that outlived our claim; the next run sees the index as it is now.
    if (!span) return;
    const parts: Buffer[] = [];
    const entries: PackEntry[] = [];
    let offset = 0;
    for (const entry of live) {
      const data = span.subarray(entry.offset - start, entry.offset - start + entry.size);
      if (sha256(data) !== entry.hash) {
        // Left where it is, so the pack is not dropped: the scrubber quarantines it.
        result.chunksBad += 1;
        continue;
      }
      parts.push(data);
      entries.push({ ...entry, offset });
      offset += entry.size;
    }
    if (entries.length === 0) return;
    const to = newPackName();
    await this.objects.putPack(to, parts);
    const { moved, dropped } = await this.index.movePack(sparse.pack, { pack: to, bytes: offset, entries });
    result.chunksMoved += moved;
    result.bytesMoved += offset;
    if (dropped) {
      await this.objects.deletePacks([sparse.pack]);
      result.packsRepacked += 1;
    }
  }

  /**
   * Deletes the pack objects of one listing page that are older than
   * orphanAgeMs and that the index does not know: written by a put whose
   * recording failed or was cut off by a crash. Page after page, every run,
   * from the start again after the last.
   */
  private async sweepOrphans(pageSize: number, now: Date, result: RepackResult): Promise<void> {
    const page = await this.objects.listPacks(this.sweptTo, pageSize);
    this.sweptTo = page.length < pageSize ? "" : page[page.length - 1]!.pack;
    const old = page.filter((p) => now.getTime() - p.storedAt.getTime() > this.settings.orphanAgeMs).map((p) => p.pack);
    if (old.length === 0) return;
    const known = await this.index.knownPacks(old);
    const orphans = old.filter((p) => !known.has(p));
    await this.objects.deletePacks(orphans);
    result.orphansDeleted += orphans.length;
  }
}
