import type { ChannelOptions } from "@grpc/grpc-js";
import { credentials } from "@grpc/grpc-js";
import { MetadataServiceClient, type CommitFileVersionRequest, type File } from "#gen/cfs/metadata/v1/metadata.js";
import { UploadSessionServiceClient, type UploadSession } from "#gen/cfs/metadata/v1/upload_sessions.js";
import { notFound } from "#lib/errors.js";
import { callUnary, type CallIdentity } from "#lib/grpc-client.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import type { ChunkSpec, StoredFile } from "../domain/types.js";
import type { ChunkPage, CommitRequest, FileCommits, FileReads } from "../ports/file-catalogue.js";
import type { NewSession, SessionRecord, UploadSessionStore } from "../ports/upload-sessions.js";

/** The metadata service over gRPC, acting with the caller's token. */
export class GrpcCatalogue implements FileCommits, FileReads, UploadSessionStore {
  readonly client: MetadataServiceClient;
  private readonly sessions: UploadSessionServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new MetadataServiceClient(address, credentials.createInsecure(), options);
    // Both services live in the metadata process: one channel serves them.
    this.sessions = new UploadSessionServiceClient(address, credentials.createInsecure(), { ...options, channelOverride: this.client.getChannel() });
  }

  async commit(request: CommitRequest, as: CallIdentity): Promise<StoredFile> {
    const response = await callUnary(this.client.commitFileVersion.bind(this.client), toCommitMessage(request), as, "metadata CommitFileVersion");
    return toStoredFile(response.file);
  }

  async commitMany(requests: readonly CommitRequest[], as: CallIdentity): Promise<StoredFile[]> {
    const response = await callUnary(
      this.client.commitFileVersions.bind(this.client),
      { files: requests.map(toCommitMessage) },
      as,
      "metadata CommitFileVersions",
    );
    // The files are matched to the requests by position.
    if (response.files.length !== requests.length) throw new Error(`metadata answered ${response.files.length} files for ${requests.length}`);
    return response.files.map(toStoredFile);
  }

  async getFile(fileId: string, version: number, as: CallIdentity): Promise<StoredFile> {
    const file = callUnary(this.client.getFile.bind(this.client), { fileId }, as, "metadata GetFile");
    if (version === 0) return toStoredFile((await file).file);
    const [{ file: newest }, { versions }] = await Promise.all([
      file,
      callUnary(this.client.listFileVersions.bind(this.client), { fileId }, as, "metadata ListFileVersions"),
    ]);
    const found = versions.find((v) => v.version === version);
    if (!found) throw notFound(`version ${version} of the file not found`);
    return { ...toStoredFile(newest), size: found.size, sha256: found.sha256, contentType: found.contentType, numChunks: found.numChunks, version };
  }

  async listChunks(fileId: string, version: number, pageToken: string, as: CallIdentity): Promise<ChunkPage> {
    const { chunks, nextPageToken } = await callUnary(
      this.client.listFileChunks.bind(this.client),
      { fileId, version, pageSize: 0, pageToken },
      as,
      "metadata ListFileChunks",
    );
    return { chunks, nextPageToken };
  }

  async releaseChunks(sha256s: readonly string[], as: CallIdentity): Promise<void> {
    for (let i = 0; i < sha256s.length; i += MAX_HASHES_PER_CALL) {
      await callUnary(this.client.releaseChunks.bind(this.client), { sha256s: sha256s.slice(i, i + MAX_HASHES_PER_CALL) }, as, "metadata ReleaseChunks");
    }
  }

  async create(session: NewSession, firstPage: readonly ChunkSpec[], as: CallIdentity): Promise<SessionRecord> {
    const response = await callUnary(
      this.sessions.createUploadSession.bind(this.sessions),
      { ...session, chunks: [...firstPage] },
      as,
      "metadata CreateUploadSession",
    );
    return toSessionRecord(response.session);
  }

  async append(uploadId: string, firstIndex: number, page: readonly ChunkSpec[], as: CallIdentity): Promise<SessionRecord> {
    const response = await callUnary(
      this.sessions.appendUploadChunks.bind(this.sessions),
      { uploadId, firstIndex, chunks: [...page] },
      as,
      "metadata AppendUploadChunks",
    );
    return toSessionRecord(response.session);
  }

  async get(uploadId: string, firstIndex: number, maxChunks: number, as: CallIdentity) {
    const response = await callUnary(
      this.sessions.getUploadSession.bind(this.sessions),
      { uploadId, firstIndex, maxChunks },
      as,
      "metadata GetUploadSession",
    );
    return { session: toSessionRecord(response.session), chunks: response.chunks };
  }

  async commitSession(uploadId: string, sha256: string, as: CallIdentity): Promise<StoredFile> {
    const response = await callUnary(this.sessions.commitUploadSession.bind(this.sessions), { uploadId, sha256 }, as, "metadata CommitUploadSession");
    return toStoredFile(response.file);
  }

  async delete(uploadId: string, as: CallIdentity): Promise<void> {
    await callUnary(this.sessions.deleteUploadSession.bind(this.sessions), { uploadId }, as, "metadata DeleteUploadSession");
  }

  close(): void {
    this.sessions.close();
    this.client.close();
  }
}

function toCommitMessage(request: CommitRequest): CommitFileVersionRequest {
  const { chunkReceipts = [], chunks, ...rest } = request;
  return {
    ...rest,
    chunks: [...chunks],
    chunkReceipts: chunkReceipts.map((r) => ({ issuedAtUnixMs: r.issuedAtMs, mac: r.mac, chunks: [...r.chunks] })),
  };
}

function toStoredFile(file: File | undefined): StoredFile {
  if (!file) throw new Error("metadata answered without a file");
  return file;
}

function toSessionRecord(session: UploadSession | undefined): SessionRecord {
  if (!session) throw new Error("metadata answered without a session");
  return {
    uploadId: session.uploadId,
    name: session.name,
    contentType: session.contentType,
    size: session.size,
    sha256: session.sha256,
    chunkCount: session.chunkCount,
    chunksDeclared: session.chunksDeclared,
    createdAt: session.createdAt,
    expiresAt: session.expiresAt,
    file: session.file,
    knownSha256: session.knownSha256,
  };
}
