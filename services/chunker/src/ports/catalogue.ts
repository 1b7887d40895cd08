import type { CallIdentity } from "#lib/grpc-client.js";
import type { ChunkRef, StoredFile } from "../domain/types.js";

export interface CommitRequest {
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  chunks: readonly ChunkRef[];
}

/** The metadata service as the chunker needs it; every call acts for `as`. */
export interface Catalogue {
  /** Makes the file (or its new version) visible, in one transaction. */
  commit(request: CommitRequest, as: CallIdentity): Promise<StoredFile>;
  getFile(fileId: string, as: CallIdentity): Promise<StoredFile>;
  listChunks(fileId: string, version: number, as: CallIdentity): Promise<ChunkRef[]>;
  /** Hands chunks of a failed upload to the collector (deleted unless referenced later). */
  releaseChunks(sha256s: readonly string[], as: CallIdentity): Promise<void>;
}
