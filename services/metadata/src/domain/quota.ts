import { resourceExhausted } from "#lib/errors.js";
import type { QuotaChecked } from "./types.js";

/** The written value, or RESOURCE_EXHAUSTED saying by how much the quota would be exceeded (nothing was written). */
export function withinQuota<T>(outcome: QuotaChecked<T>): T {
  if (outcome.kind === "done") return outcome.value;
  throw resourceExhausted(
    `quota exceeded: ${outcome.usedBytes} of ${outcome.quotaBytes} bytes are used, this would add ${outcome.addedBytes}; nothing was committed`,
  );
}
