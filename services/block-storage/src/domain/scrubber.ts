import { pause } from "#lib/background-loop.js";
import { CfsError } from "#lib/errors.js";
import type { ChunkPosition, ChunkStore } from "../ports/chunk-store.js";
import { isIntact, type Quarantine } from "./quarantine.js";

export interface ScrubSettings {
  /** The most it reads per second (CFS_SCRUB_BYTES_PER_SECOND; 0 turns scrubbing off). */
  bytesPerSecond: number;
  /** A pass starts this long after the previous one started, or at once when that one took longer (CFS_SCRUB_PERIOD_DAYS). */
  periodMs: number;
  /** Chunks listed per store call. */
  pageSize: number;
}

export interface PassResult {
  chunks: number;
  bytes: number;
  /** Chunks found bad (and handed to the quarantine). */
  bad: number;
}

/** What the scrubber reports (metrics, logs). */
export interface ScrubObserver {
  scrubbed(bytes: number): void;
  passCompleted(result: PassResult, seconds: number): void;
  passFailed(err: unknown): void;
}

/** Pause after a failed pass (the store unreachable) before it goes on from where it stopped. */
const RETRY_MS = 30_000;

/**
 * Re-reads and re-hashes every stored chunk, at most bytesPerSecond, one
 * pass per period, so corruption (bit rot, a bad disk, a hand-edited object)
 * is found and quarantined before a user downloads it. A failed pass goes on
 * from the chunk it stopped at.
 */
export class Scrubber {
  private position: ChunkPosition | undefined;

  constructor(
    private readonly store: ChunkStore,
    private readonly quarantine: Quarantine,
    private readonly settings: ScrubSettings,
    private readonly observer: ScrubObserver,
  ) {}

  /** Passes until `signal` aborts: the first at once, each next one a period after the previous one began. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.settings.bytesPerSecond === 0) return;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        await this.pass(signal);
      } catch (err) {
        if (signal.aborted) return;
        this.observer.passFailed(err);
        await pause(RETRY_MS, signal);
        continue;
      }
      await pause(started + this.settings.periodMs - Date.now(), signal);
    }
  }

  /** One pass over the whole store (from where a failed one stopped). */
  async pass(signal: AbortSignal): Promise<PassResult> {
    const result: PassResult = { chunks: 0, bytes: 0, bad: 0 };
    const started = Date.now();
    for (;;) {
      const page = await this.store.list(this.position, this.settings.pageSize);
      if (page.length === 0) break;
      for (const entry of page) {
        if (signal.aborted) return result;
        let intact: boolean;
        try {
          const data = await this.store.get(entry.ownerKey, entry.hash);
          // Deleted since it was listed: nothing to check.
          intact = data === undefined || isIntact(data, entry.hash);
        } catch (err) {
          if (!(err instanceof CfsError && err.kind === "data-loss")) throw err;
          intact = false;
        }
        if (!intact) {
          result.bad++;
          await this.quarantine.isolate(entry.ownerKey, entry.hash, "scrub");
        }
        this.position = entry;
        result.chunks++;
        result.bytes += entry.size;
        this.observer.scrubbed(entry.size);
        // Paced from the pass's start: at most bytesPerSecond on average.
        await pause(started + (result.bytes / this.settings.bytesPerSecond) * 1000 - Date.now(), signal);
      }
    }
    this.position = undefined;
    if (!signal.aborted) this.observer.passCompleted(result, (Date.now() - started) / 1000);
    return result;
  }
}
