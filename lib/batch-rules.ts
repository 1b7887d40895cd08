import { invalidArgument } from "./errors.js";
import { MAX_BATCH_BYTES, MAX_FILES_PER_BATCH } from "./limits.js";

/** A file as a batch counts it: its canonical name (normalizeName), its size, its idempotency key if any. */
export interface BatchMember {
  name: string;
  size: number;
  idempotencyKey?: string | undefined;
}

/**
 * What one batch of files may hold — an UploadFiles call, the
 * CommitFileVersions it makes, a group of commits: at most
 * MAX_FILES_PER_BATCH files of at most MAX_BATCH_BYTES together, and no name
 * or idempotency key twice (one transaction cannot add two versions under
 * one name, nor make two commits for one key). The chunker checks it at each
 * file's header, before the file's bytes are read, and metadata again at the
 * commit, so both refuse a batch for the same reasons.
 */
export class BatchRules {
  private files = 0;
  private bytes = 0;
  private readonly names = new Map<string, number>();
  private readonly idempotencyKeys = new Map<string, number>();

  /**
   * Counts the next file in, or throws INVALID_ARGUMENT saying why it cannot
   * join (naming the earlier file it collides with; the caller names this
   * one) and counts nothing.
   */
  admit(file: BatchMember): void {
    const index = this.files;
    if (index >= MAX_FILES_PER_BATCH) throw invalidArgument(`a batch carries at most ${MAX_FILES_PER_BATCH} files`);
    if (this.bytes + file.size > MAX_BATCH_BYTES) {
      throw invalidArgument(`the batch's sizes add up to more than ${MAX_BATCH_BYTES} bytes; send large files one by one (UploadFile)`);
    }
    const sameName = this.names.get(file.name);
    if (sameName !== undefined) throw invalidArgument(`name ${JSON.stringify(file.name)} is also the name of files[${sameName}]`);
    const key = file.idempotencyKey;
    const sameKey = key === undefined ? undefined : this.idempotencyKeys.get(key);
    if (sameKey !== undefined) throw invalidArgument(`idempotency_key ${JSON.stringify(key)} is also that of files[${sameKey}]`);
    this.names.set(file.name, index);
    if (key !== undefined) this.idempotencyKeys.set(key, index);
    this.bytes += file.size;
    this.files++;
  }

}
