import type { CallIdentity } from "#lib/grpc-client.js";
import type { ChunkRef, ChunkSpec, StoredFile } from "../domain/types.js";

export interface NewSession {
  name: string;
  contentType: string;
  size: number;
  sha256?: string | undefined;
  chunkCount: number;
}

/** An upload session as the catalogue keeps it. */
export interface SessionRecord extends NewSession {
  uploadId: string;
  chunksDeclared: number;
  createdAt: Date | undefined;
  expiresAt: Date | undefined;
  /** Set once committed. */
  file: StoredFile | undefined;
  /** The content's SHA-256 when a version with the same chunk list exists, else "". */
  knownSha256: string;
}

/**
 * Upload sessions in the metadata service (cfs.metadata.v1.UploadSessionService),
 * acting for `as`: another user's session is NOT_FOUND.
 */
export interface UploadSessionStore {
  create(session: NewSession, firstPage: readonly ChunkSpec[], as: CallIdentity): Promise<SessionRecord>;
  append(uploadId: string, firstIndex: number, page: readonly ChunkSpec[], as: CallIdentity): Promise<SessionRecord>;
  /** The session and up to `maxChunks` entries of its list from `firstIndex`. */
  get(uploadId: string, firstIndex: number, maxChunks: number, as: CallIdentity): Promise<{ session: SessionRecord; chunks: ChunkRef[] }>;
  /** Commits once; later calls return the same file. `sha256` "" uses the known one. */
  commitSession(uploadId: string, sha256: string, as: CallIdentity): Promise<StoredFile>;
  delete(uploadId: string, as: CallIdentity): Promise<void>;
}
