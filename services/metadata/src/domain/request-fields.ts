import type { Principal } from "#lib/auth.js";
import { invalidArgument, permissionDenied } from "#lib/errors.js";
import { MAX_HASHES_PER_CALL, MAX_OWNER_LENGTH, SHA256_HEX } from "#lib/limits.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT32_MAX = 2 ** 31 - 1;

/** One message for unknown ids and other owners' ids, so neither can be told apart. */
export const FILE_NOT_FOUND = "file not found";

/** NOT_FOUND's message for a missing version (0: the newest, which is missing only with the file). */
export function versionNotFoundMessage(version: number): string {
  return version === 0 ? FILE_NOT_FOUND : `version ${version} of the file not found`;
}

/** Lowercased, so an id matches however the client capitalised it. */
export function checkFileId(fileId: string): string {
  if (!UUID.test(fileId)) throw invalidArgument("file_id must be a UUID");
  return fileId.toLowerCase();
}

/** A version number where 0 means the newest: undefined for 0, the number otherwise. */
export function checkVersion(version: number): number | undefined {
  if (!Number.isInteger(version) || version < 0 || version > INT32_MAX) throw invalidArgument("version must not be negative");
  return version === 0 ? undefined : version;
}

/** The internal RPCs that name an owner serve cfs services only. */
export function checkOwner(caller: Principal, owner: string): void {
  if (!caller.isService) throw permissionDenied("only cfs services may inspect another owner's catalogue");
  if (owner === "") throw invalidArgument("owner is required");
  if (owner.length > MAX_OWNER_LENGTH) throw invalidArgument(`owner is longer than ${MAX_OWNER_LENGTH} characters`);
}

/** At most MAX_HASHES_PER_CALL well-formed hashes, duplicates dropped. */
export function checkHashes(sha256s: readonly string[]): string[] {
  if (sha256s.length > MAX_HASHES_PER_CALL) {
    throw invalidArgument(`at most ${MAX_HASHES_PER_CALL} hashes per call, got ${sha256s.length}`);
  }
  sha256s.forEach((h, i) => {
    if (!SHA256_HEX.test(h)) throw invalidArgument(`sha256s[${i}] must be 64 lowercase hex characters`);
  });
  return [...new Set(sha256s)];
}
