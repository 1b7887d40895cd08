import { Counter, Gauge, type Registry } from "prom-client";
import type { SweepObserver, SweepResult } from "../domain/sweep.js";

/** The sweep's metrics: chunks and bytes it deleted (or, in a dry run, would have), and when it last completed. */
export class SweepMetrics implements SweepObserver {
  private readonly chunks: Counter<"dry_run">;
  private readonly bytes: Counter<"dry_run">;
  private readonly lastCompleted: Gauge;

  constructor(registry: Registry) {
    this.chunks = new Counter({
      name: "cfs_gc_swept_chunks_total",
      help: "Chunks the sweep found unreferenced past the grace period and deleted (dry_run=\"true\": would have deleted).",
      labelNames: ["dry_run"],
      registers: [registry],
    });
    this.bytes = new Counter({
      name: "cfs_gc_swept_bytes_total",
      help: "Bytes the sweep freed in block storage (dry_run=\"true\": would have freed).",
      labelNames: ["dry_run"],
      registers: [registry],
    });
    this.lastCompleted = new Gauge({
      name: "cfs_gc_sweep_last_completed_timestamp_seconds",
      help: "When the last complete sweep of block storage ended (Unix time); 0 before the first.",
      registers: [registry],
    });
    for (const dryRun of ["true", "false"]) {
      this.chunks.inc({ dry_run: dryRun }, 0);
      this.bytes.inc({ dry_run: dryRun }, 0);
    }
  }

  swept(chunks: number, bytes: number, dryRun: boolean): void {
    this.chunks.inc({ dry_run: String(dryRun) }, chunks);
    this.bytes.inc({ dry_run: String(dryRun) }, bytes);
  }

  completed(_result: SweepResult, _seconds: number): void {
    this.lastCompleted.set(Date.now() / 1000);
  }
}
