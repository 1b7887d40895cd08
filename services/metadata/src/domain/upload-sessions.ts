import { checkChunkPage } from "#lib/chunk-list.js";
import { randomUUID } from "node:crypto";
import { failedPrecondition, invalidArgument, notFound } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_CHUNKS_PER_FILE, MAX_CONTENT_TYPE_LENGTH, SHA256_HEX } from "#lib/limits.js";
import type { CatalogueStore } from "../ports/catalogue-store.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import type { UploadSessionStore } from "../ports/upload-session-store.js";
import { normalizeName } from "#lib/file-names.js";
import { requireStored } from "./stored-chunks.js";
import { withinQuota } from "./quota.js";
import type { AppendOutcome, CatalogueRules, ChunkRecord, ChunkSpec, FileRecord, UploadSessionRecord } from "./types.js";

/** Unknown, expired and other owners' sessions all answer this. */
const UPLOAD_NOT_FOUND = "upload not found";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Entries of a session's list one GetUploadSession may return. */
const MAX_LIST_PAGE = 10_000;

export interface NewSessionRequest {
  name: string;
  contentType: string;
  size: number;
  sha256?: string | undefined;
  chunkCount: number;
  chunks: readonly ChunkSpec[];
}

export interface SessionView {
  session: UploadSessionRecord;
  /** The content SHA-256 of a version with the same chunk list, once the list is complete; "" otherwise. */
  knownSha256: string;
}

/**
 * Upload sessions: a file's chunk list, declared page by page, kept until
 * the file is committed or the session expires. `owner` is always the
 * caller's token subject.
 */
export class UploadSessions {
  constructor(
    private readonly store: UploadSessionStore,
    private readonly catalogue: CatalogueStore,
    private readonly inventory: ChunkInventory,
    private readonly ttlSeconds: number,
    private readonly rules: CatalogueRules,
  ) {}

  async create(owner: string, request: NewSessionRequest): Promise<SessionView> {
    const name = normalizeName(request.name);
    if (request.contentType.length > MAX_CONTENT_TYPE_LENGTH) throw invalidArgument(`content_type is longer than ${MAX_CONTENT_TYPE_LENGTH} characters`);
    if (/\p{Cc}/u.test(request.contentType)) throw invalidArgument("content_type must not contain control characters");
    if (!Number.isSafeInteger(request.size) || request.size < 0) throw invalidArgument("size must be a non-negative integer");
    if (request.sha256 !== undefined && !SHA256_HEX.test(request.sha256)) throw invalidArgument("sha256 must be 64 lowercase hex characters");
    if (!Number.isInteger(request.chunkCount) || request.chunkCount < 0 || request.chunkCount > MAX_CHUNKS_PER_FILE) {
      throw invalidArgument(`chunk_count must be between 0 and ${MAX_CHUNKS_PER_FILE}`);
    }
    if ((request.size === 0) !== (request.chunkCount === 0)) throw invalidArgument("an empty file has no chunks, and only an empty file has none");
    checkChunkPage(request.chunks);
    const outcome = await this.store.create(
      {
        uploadId: randomUUID(),
        owner,
        name,
        contentType: request.contentType,
        size: request.size,
        sha256: request.sha256,
        chunkCount: request.chunkCount,
        expiresAt: new Date(Date.now() + this.ttlSeconds * 1000),
      },
      request.chunks,
    );
    return this.view(owner, accepted(outcome, 0));
  }

  async append(owner: string, uploadId: string, firstIndex: number, page: readonly ChunkSpec[]): Promise<SessionView> {
    const id = checkUploadId(uploadId);
    if (!Number.isInteger(firstIndex) || firstIndex < 0) throw invalidArgument("first_index must not be negative");
    checkChunkPage(page);
    const outcome = await this.store.append(owner, id, firstIndex, page);
    if (!outcome) throw notFound(UPLOAD_NOT_FOUND);
    return this.view(owner, accepted(outcome, firstIndex));
  }

  async get(owner: string, uploadId: string, firstIndex: number, maxChunks: number): Promise<SessionView & { chunks: ChunkRecord[] }> {
    const id = checkUploadId(uploadId);
    if (!Number.isInteger(firstIndex) || firstIndex < 0) throw invalidArgument("first_index must not be negative");
    if (!Number.isInteger(maxChunks) || maxChunks < 0) throw invalidArgument("max_chunks must not be negative");
    const session = await this.store.get(owner, id);
    if (!session) throw notFound(UPLOAD_NOT_FOUND);
    const chunks = maxChunks === 0 ? [] : await this.store.chunks(owner, id, firstIndex, Math.min(maxChunks, MAX_LIST_PAGE));
    return { ...(await this.view(owner, session)), chunks };
  }

  /**
   * Commits the session's file once: the whole list declared, every chunk in
   * block storage (for this owner) with its size, and the content hash known
   * — computed by the chunker over the stored chunks, or from a version with
   * the same list — and equal to the declared one if the client declared one.
   */
  async commit(owner: string, uploadId: string, sha256: string, as: CallIdentity): Promise<FileRecord> {
    const id = checkUploadId(uploadId);
    if (sha256 !== "" && !SHA256_HEX.test(sha256)) throw invalidArgument("sha256 must be 64 lowercase hex characters");
    const { session, knownSha256 } = await this.view(owner, await this.store.get(owner, id));
    if (session.committed) return session.committed;
    if (session.chunksDeclared < session.chunkCount) {
      throw failedPrecondition(`${session.chunksDeclared} of the ${session.chunkCount} chunks of the list are declared`);
    }
    const content = sha256 || knownSha256;
    if (content === "") throw failedPrecondition("the content hash of the upload is not known; compute it over the stored chunks");
    if (session.sha256 !== undefined && session.sha256 !== content) {
      throw invalidArgument(`declared sha256 ${session.sha256} but the content hashes to ${content}`);
    }
    await requireStored(this.inventory, await this.store.distinctChunks(owner, id), as);
    const outcome = await this.catalogue.commitFileVersion(
      {
      owner,
      name: session.name,
      contentType: session.contentType,
      size: session.size,
      sha256: content,
      chunks: [],
      chunkListDigest: session.chunkListDigest!,
        session: { uploadId: id, chunkCount: session.chunkCount },
      },
      this.rules,
    );
    return withinQuota(outcome);
  }

  async delete(owner: string, uploadId: string): Promise<void> {
    if (!(await this.store.delete(owner, checkUploadId(uploadId)))) throw notFound(UPLOAD_NOT_FOUND);
  }

  private async view(owner: string, session: UploadSessionRecord | undefined): Promise<SessionView> {
    if (!session) throw notFound(UPLOAD_NOT_FOUND);
    const known = session.chunkListDigest && !session.committed ? await this.store.knownContentHash(owner, session.chunkListDigest) : undefined;
    return { session, knownSha256: known ?? "" };
  }
}

/** The session after a page was accepted, or the error that says why it was not. */
function accepted(outcome: AppendOutcome, firstIndex: number): UploadSessionRecord {
  switch (outcome.kind) {
    case "appended":
    case "repeated":
      return outcome.session;
    case "conflict":
      throw failedPrecondition(`chunks from ${firstIndex} on were declared before with other hashes or sizes`);
    case "gap":
      throw failedPrecondition(`${outcome.session.chunksDeclared} chunks are declared: the next page starts at index ${outcome.session.chunksDeclared}, not ${firstIndex}`);
    case "overflow":
      throw invalidArgument(`the chunk list does not fit the file: ${outcome.what}`);
  }
}

function checkUploadId(uploadId: string): string {
  if (!UUID.test(uploadId)) throw invalidArgument("upload_id must be a UUID");
  return uploadId.toLowerCase();
}

