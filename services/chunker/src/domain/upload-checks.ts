import { invalidArgument } from "#lib/errors.js";
import { normalizeName } from "#lib/file-names.js";
import { BatchRules } from "#lib/batch-rules.js";
import { IDEMPOTENCY_KEY, MAX_CONTENT_TYPE_LENGTH, SHA256_HEX } from "#lib/limits.js";
import type { UploadHeader } from "./types.js";

/**
 * Checks that fail a bad upload before any byte moves: a name the catalogue
 * would refuse at commit is refused here, by the same rules (lib/file-names),
 * rather than after the whole file was sent and its chunks stored.
 */
export function checkUploadHeader(header: UploadHeader, maxFileBytes: number): void {
  normalizeName(header.name);
  if (header.contentType.length > MAX_CONTENT_TYPE_LENGTH) {
    throw invalidArgument(`content_type is longer than ${MAX_CONTENT_TYPE_LENGTH} characters`);
  }
  if (header.size !== undefined) {
    if (!Number.isSafeInteger(header.size) || header.size < 0) throw invalidArgument("size must be a non-negative integer");
    if (header.size > maxFileBytes) throw invalidArgument(`size ${header.size} exceeds the limit of ${maxFileBytes} bytes`);
  }
  if (header.sha256 !== undefined && !SHA256_HEX.test(header.sha256)) throw invalidArgument("sha256 must be 64 lowercase hex characters");
  if (header.idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(header.idempotencyKey)) {
    throw invalidArgument("idempotency_key must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'");
  }
}

/**
 * The rules of an UploadFiles batch (lib/batch-rules.ts), checked at each
 * file's header so a batch that cannot commit stops before that file's bytes
 * are read; in a batch every file declares its size, and each header passes
 * the checks of a single upload too. Messages name the earlier file; the
 * caller names the one refused.
 */
export class BatchHeaders {
  private readonly rules = new BatchRules();

  constructor(private readonly maxFileBytes: number) {}

  /** Admits the next file of the batch, or INVALID_ARGUMENT saying why not. */
  admit(header: UploadHeader): void {
    if (header.size === undefined) throw invalidArgument("size is required in a batch");
    checkUploadHeader(header, this.maxFileBytes);
    this.rules.admit({ name: normalizeName(header.name), size: header.size, idempotencyKey: header.idempotencyKey });
  }
}
