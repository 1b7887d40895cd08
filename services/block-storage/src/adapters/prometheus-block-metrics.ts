import { Counter, Gauge, type Registry } from "prom-client";
import type { Logger } from "pino";
import type { FoundBy, QuarantineObserver } from "../domain/quarantine.js";
import type { PassResult, ScrubObserver } from "../domain/scrubber.js";

/** Block storage's own metrics and log lines: quarantined chunks and the scrubber's progress. */
export class BlockMetrics implements QuarantineObserver, ScrubObserver {
  private readonly quarantinedTotal: Counter<"found_by">;
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
