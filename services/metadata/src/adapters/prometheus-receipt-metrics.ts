import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { ReceiptObserver, ReceiptOutcome } from "../domain/chunk-receipts.js";

const OUTCOMES: readonly ReceiptOutcome[] = ["accepted", "expired", "invalid", "no_key"];

/**
 * Block storage's chunk receipts as metadata took them, and one warning the
 * first time one does not verify or cannot be checked: that is a key that
 * differs between block storage and metadata (or is missing in metadata),
 * which costs every commit a question to block storage but breaks nothing.
 */
export class ReceiptMetrics implements ReceiptObserver {
  private readonly receipts: Counter<"outcome">;
  private warned = false;

  constructor(
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.receipts = new Counter({
      name: "cfs_metadata_chunk_receipts_total",
      help: "Block storage's chunk receipts that came with commits, by outcome: accepted (no question to block storage for their chunks), expired, invalid (another key), no_key (CFS_CHUNK_RECEIPT_KEY_FILE unset here).",
      labelNames: ["outcome"],
      registers: [registry],
    });
    for (const outcome of OUTCOMES) this.receipts.inc({ outcome }, 0);
  }

  checked(outcome: ReceiptOutcome): void {
    this.receipts.inc({ outcome });
    if ((outcome === "invalid" || outcome === "no_key") && !this.warned) {
      this.warned = true;
      this.log.warn(
        { outcome },
        outcome === "invalid"
          ? "a chunk receipt did not verify: does CFS_CHUNK_RECEIPT_KEY_FILE hold the same key in block storage and metadata? (commits ask block storage instead)"
          : "commits come with chunk receipts but CFS_CHUNK_RECEIPT_KEY_FILE is not set here (commits ask block storage instead)",
      );
    }
  }
}
