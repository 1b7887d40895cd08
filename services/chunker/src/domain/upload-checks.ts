import { invalidArgument } from "#lib/errors.js";
import { IDEMPOTENCY_KEY, MAX_CONTENT_TYPE_LENGTH, MAX_NAME_BYTES, SHA256_HEX } from "#lib/limits.js";
import type { UploadHeader } from "./types.js";

/**
 * Cheap checks that fail an obviously bad upload before any byte moves. The
 * catalogue owns the full naming rules (and applies them at commit).
 */
export function checkUploadHeader(header: UploadHeader, maxFileBytes: number): void {
  if (header.name.length === 0) throw invalidArgument("name is required");
  if (Buffer.byteLength(header.name) > MAX_NAME_BYTES) throw invalidArgument(`name is longer than ${MAX_NAME_BYTES} bytes`);
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
