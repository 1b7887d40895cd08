import type { CallIdentity } from "#lib/grpc-client.js";

/** Block storage as the chunker needs it; every call acts for `as`. */
export interface BlockStore {
  /** The subset of `hashes` that is not stored yet for the caller. */
  missing(hashes: readonly string[], as: CallIdentity): Promise<Set<string>>;
  put(sha256: string, data: Buffer, as: CallIdentity): Promise<void>;
  /** The stored bytes; block storage has verified them, the caller checks again. */
  get(sha256: string, size: number, as: CallIdentity): Promise<Buffer>;
}
