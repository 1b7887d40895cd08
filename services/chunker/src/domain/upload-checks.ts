import { invalidArgument } from "#lib/errors.js";
import { normalizeName } from "#lib/file-names.js";
import { IDEMPOTENCY_KEY, MAX_BATCH_BYTES, MAX_CONTENT_TYPE_LENGTH, MAX_FILES_PER_BATCH, SHA256_HEX } from "#lib/limits.js";
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
 * The rules of an UploadFiles batch, checked at each file's header so a
 * batch that cannot commit stops before that file's bytes are read: every
 * file declares its size, the declared sizes add up to at most
 * MAX_BATCH_BYTES, at most MAX_FILES_PER_BATCH files, and no name or
 * idempotency key twice (one transaction cannot hold two versions of a name,
 * nor two commits for one key). Messages name the earlier file; the caller
 * names the one refused.
 */
export class BatchRules {
  private files = 0;
  private declaredBytes = 0;
  private readonly names = new Map<string, number>();
  private readonly idempotencyKeys = new Map<string, number>();

  constructor(private readonly maxFileBytes: number) {}

  /** Admits the next file of the batch, or INVALID_ARGUMENT saying why not. */
  admit(header: UploadHeader): void {
    const index = this.files;
    if (index >= MAX_FILES_PER_BATCH) throw invalidArgument(`a batch carries at most ${MAX_FILES_PER_BATCH} files`);
    if (header.size === undefined) throw invalidArgument("size is required in a batch");
    checkUploadHeader(header, this.maxFileBytes);
    if (this.declaredBytes + header.size > MAX_BATCH_BYTES) {
      throw invalidArgument(`the batch's declared sizes add up to more than ${MAX_BATCH_BYTES} bytes; send large files by UploadFile`);
    }
    const name = normalizeName(header.name);
    const sameName = this.names.get(name);
    if (sameName !== undefined) throw invalidArgument(`name ${JSON.stringify(name)} is also the name of files[${sameName}]`);
    const key = header.idempotencyKey;
    const sameKey = key === undefined ? undefined : this.idempotencyKeys.get(key);
    if (sameKey !== undefined) throw invalidArgument(`idempotency_key ${JSON.stringify(key)} is also that of files[${sameKey}]`);
    this.names.set(name, index);
    if (key !== undefined) this.idempotencyKeys.set(key, index);
    this.declaredBytes += header.size;
    this.files++;
  }
}
