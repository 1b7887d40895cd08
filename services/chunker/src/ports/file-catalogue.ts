import type { ReceiptWithChunks } from "#lib/chunk-receipts.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { ChunkRef, StoredFile } from "../domain/types.js";

export interface CommitRequest {
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  chunks: readonly ChunkRef[];
  idempotencyKey?: string | undefined;
  /**
   * Block storage's receipts for chunks this upload stored (in a batch, one
   * given with any file counts for all): metadata need not ask about those.
   */
  chunkReceipts?: readonly ReceiptWithChunks[] | undefined;
}

/** The metadata service as a streamed upload needs it; every call acts for `as`. */
export interface FileCommits {
  /** Makes the file (or its new version) visible, in one transaction. */
  commit(request: CommitRequest, as: CallIdentity): Promise<StoredFile>;
  /** Makes every file visible in one transaction, all or none; answers in order. */
  commitMany(requests: readonly CommitRequest[], as: CallIdentity): Promise<StoredFile[]>;
  /** Hands chunks of a failed upload to the collector (deleted unless referenced later). */
  releaseChunks(sha256s: readonly string[], as: CallIdentity): Promise<void>;
}

export interface ChunkPage {
  chunks: ChunkRef[];
  /** Empty on the last page. */
  nextPageToken: string;
}

/** The metadata service as downloads need it. */
export interface FileReads {
  /**
   * The file as of `version` (0: the newest): that version's size, hash,
   * content type and chunk count under the file's id and name. NOT_FOUND
   * for an unknown file or version.
   */
  getFile(fileId: string, version: number, as: CallIdentity): Promise<StoredFile>;
  /** A page of a version's chunk list, in order. */
  listChunks(fileId: string, version: number, pageToken: string, as: CallIdentity): Promise<ChunkPage>;
}
