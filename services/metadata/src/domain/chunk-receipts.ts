import { RECEIPT_CLOCK_SKEW_MS, RECEIPT_MAX_AGE_MS, type ReceiptKey, type ReceiptWithChunks } from "#lib/chunk-receipts.js";

/**
 * What became of a receipt: taken (`accepted`), too old or dated ahead of
 * this clock (`expired`), not made under this key for these chunks and this
 * owner (`invalid`), or not checked because metadata has no key (`no_key`).
 * Only an accepted one spares a question to block storage.
 */
export type ReceiptOutcome = "accepted" | "expired" | "invalid" | "no_key";

export interface ReceiptObserver {
  checked(outcome: ReceiptOutcome): void;
}

/** Checks block storage's receipts (lib/chunk-receipts.ts) for the catalogue's commits. */
export class ReceiptCheck {
  constructor(
    private readonly key: ReceiptKey | undefined,
    private readonly observer: ReceiptObserver,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * The chunks (hash → size) that `owner`'s receipts vouch for: those of
   * every receipt made under the key for this owner and at most
   * RECEIPT_MAX_AGE_MS old. The others are ignored, not refused: their
   * chunks are asked about as if they had come without one.
   */
  vouchedFor(owner: string, receipts: Iterable<ReceiptWithChunks>): Map<string, number> {
    const vouched = new Map<string, number>();
    const now = this.clock();
    for (const receipt of receipts) {
      const outcome = this.outcomeOf(owner, receipt, now);
      this.observer.checked(outcome);
      if (outcome !== "accepted") continue;
      for (const chunk of receipt.chunks) vouched.set(chunk.sha256, chunk.size);
    }
    return vouched;
  }

  private outcomeOf(owner: string, receipt: ReceiptWithChunks, now: number): ReceiptOutcome {
    if (!this.key) return "no_key";
    const age = now - receipt.issuedAtMs;
    if (!(age <= RECEIPT_MAX_AGE_MS && age >= -RECEIPT_CLOCK_SKEW_MS)) return "expired";
    return this.key.verifies(owner, receipt.chunks, receipt) ? "accepted" : "invalid";
  }
}
