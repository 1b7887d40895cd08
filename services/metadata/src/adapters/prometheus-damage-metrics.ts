import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { DamageReportObserver } from "../domain/damage-reports.js";
import type { DamagedFile, QuarantinedChunk } from "../ports/damage-ledger.js";

/** The damage reporter's metric and log lines. */
export class DamageReportMetrics implements DamageReportObserver {
  private readonly files: Counter;

  constructor(
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.files = new Counter({
      name: "cfs_damaged_files_reported_total",
      help: "Files reported damaged (a \"damaged\" sync event each) because block storage quarantined a chunk of their newest version.",
      registers: [registry],
    });
  }

  reported(chunk: QuarantinedChunk, owner: string | undefined, files: readonly DamagedFile[]): void {
    this.files.inc(files.length);
    const fields = { ownerKey: chunk.ownerKey, chunk: chunk.sha256, quarantinedAt: chunk.quarantinedAt, files: files.length };
    if (files.length > 0) {
      // Ids only: names are the user's.
      this.log.error({ ...fields, fileIds: files.slice(0, 20).map((f) => f.fileId) }, "files damaged by a quarantined chunk: a sync event reports each");
    } else {
      this.log.warn(fields, owner === undefined ? "quarantined chunk of an owner the catalogue does not know" : "quarantined chunk that no file's newest version lists");
    }
  }
}
