import { Counter, Gauge, type Registry } from "prom-client";
import type { Logger } from "pino";
import type { PackObserver } from "../domain/packed-chunk-store.js";
import type { FoundBy, QuarantineObserver } from "../domain/quarantine.js";
import type { RepackObserver, RepackResult } from "../domain/repacker.js";
import type { PassResult, ScrubObserver } from "../domain/scrubber.js";

/** Block storage's own metrics and log lines: quarantined chunks, the scrubber's progress, packs and repacks. */
export class BlockMetrics implements QuarantineObserver, ScrubObserver, PackObserver, RepackObserver {
  private readonly quarantinedTotal: Counter<"found_by">;
  private readonly packsWritten: Counter<"kept_in">;
  private readonly packedChunks: Counter<"kept_in">;
  private readonly packBytes: Counter<"kept_in">;
  private readonly packsDeleted: Counter<"reason">;
  private readonly repackedBytes: Counter;
  private readonly scrubbedBytes: Counter;
  private readonly scrubbedPassChunks: Gauge;
  private readonly lastPass: Gauge;

  constructor(
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.quarantinedTotal = new Counter({
      name: "cfs_blockstore_quarantined_chunks_total",
      help: "Chunks found corrupt (bytes not matching their hash) and moved to quarantine, by who found them (read: a download or sync's verification; scrub).",
      labelNames: ["found_by"],
      registers: [registry],
    });
    for (const foundBy of ["read", "scrub"]) this.quarantinedTotal.inc({ found_by: foundBy }, 0);
    // kept_in: "objects" (a pack object) or "index" (a small pack kept in the index, CFS_PACK_INLINE_BYTES).
    this.packsWritten = new Counter({
      name: "cfs_blockstore_packs_written_total",
      help: "Packs written for puts (repacks not counted), by where they are kept (objects, or index for small packs); cfs_blockstore_packed_chunks_total over this is the chunks per pack.",
      labelNames: ["kept_in"],
      registers: [registry],
    });
    this.packedChunks = new Counter({ name: "cfs_blockstore_packed_chunks_total", help: "Chunks written in packs for puts, by where the pack is kept.", labelNames: ["kept_in"], registers: [registry] });
    this.packBytes = new Counter({ name: "cfs_blockstore_pack_bytes_written_total", help: "Bytes of the packs written for puts, by where the pack is kept.", labelNames: ["kept_in"], registers: [registry] });
    for (const keptIn of ["objects", "index"]) for (const counter of [this.packsWritten, this.packedChunks, this.packBytes]) counter.inc({ kept_in: keptIn }, 0);
    this.packsDeleted = new Counter({
      name: "cfs_blockstore_packs_deleted_total",
      help: "Pack objects deleted by the repacker: repacked (mostly dead space, live chunks copied), emptied, or orphaned (never recorded).",
      labelNames: ["reason"],
      registers: [registry],
    });
    for (const reason of ["repacked", "emptied", "orphaned"]) this.packsDeleted.inc({ reason }, 0);
    this.repackedBytes = new Counter({ name: "cfs_blockstore_repacked_bytes_total", help: "Live bytes copied into new packs by the repacker.", registers: [registry] });
    this.scrubbedBytes = new Counter({
      name: "cfs_blockstore_scrubbed_bytes_total",
      help: "Bytes re-read and re-hashed by the scrubber.",
      registers: [registry],
    });
    this.scrubbedPassChunks = new Gauge({
      name: "cfs_blockstore_scrub_last_pass_chunks",
      help: "Chunks the last complete scrub pass checked.",
      registers: [registry],
    });
    this.lastPass = new Gauge({
      name: "cfs_blockstore_scrub_last_pass_completed_timestamp_seconds",
      help: "When the last complete scrub pass ended (Unix time); 0 before the first.",
      registers: [registry],
    });
  }

  quarantined(ownerKey: string, hash: string, foundBy: FoundBy): void {
    this.quarantinedTotal.inc({ found_by: foundBy });
    this.log.error({ ownerKey, chunk: hash, foundBy }, "chunk corrupt: quarantined (the next upload of its content stores it again)");
  }

  quarantineFailed(ownerKey: string, hash: string, err: unknown): void {
    this.log.warn({ err, ownerKey, chunk: hash }, "could not quarantine a corrupt chunk (it stays unserved: reads verify it)");
  }

  packWritten(chunks: number, bytes: number, inline: boolean): void {
    const labels = { kept_in: inline ? "index" : "objects" };
    this.packsWritten.inc(labels);
    this.packedChunks.inc(labels, chunks);
    this.packBytes.inc(labels, bytes);
  }

  repacked(result: RepackResult): void {
    this.packsDeleted.inc({ reason: "repacked" }, result.packsRepacked);
    this.packsDeleted.inc({ reason: "emptied" }, result.packsEmptied);
    this.packsDeleted.inc({ reason: "orphaned" }, result.orphansDeleted);
    this.repackedBytes.inc(result.bytesMoved);
    if (result.packsRepacked + result.packsEmptied + result.orphansDeleted + result.chunksBad > 0) this.log.info(result, "repacked");
    if (result.chunksBad > 0) this.log.warn({ chunksBad: result.chunksBad }, "repack left chunks that no longer match their hash where they were (the scrubber quarantines them)");
  }

  scrubbed(bytes: number): void {
    this.scrubbedBytes.inc(bytes);
  }

  passCompleted(result: PassResult, seconds: number): void {
    this.scrubbedPassChunks.set(result.chunks);
    this.lastPass.set(Date.now() / 1000);
    this.log.info({ ...result, seconds }, "scrub pass completed");
  }

  passFailed(err: unknown): void {
    this.log.warn({ err }, "scrub pass interrupted; it goes on from where it stopped");
  }
}
