import type { CommitFileVersionRequest, File, FileVersion, MetadataServiceService } from "#gen/cfs/metadata/v1/metadata.js";
import type { UploadSession, UploadSessionServiceService } from "#gen/cfs/metadata/v1/upload_sessions.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { RequestContext, ServiceHandlers } from "#lib/grpc-server.js";
import type { Catalogue } from "./domain/catalogue.js";
import type { CommitRequest } from "./domain/commit-validation.js";
import type { ChunkRelease } from "./domain/chunk-release.js";
import type { VerificationQueries } from "./domain/verification-queries.js";
import type { FileRecord, FileVersionRecord } from "./domain/types.js";
import type { SessionView, UploadSessions } from "./domain/upload-sessions.js";

/** Calls to block storage act for the caller, with its token, request id, deadline and cancellation. */
function identityOf(ctx: RequestContext): CallIdentity {
  return { token: ctx.token, requestId: ctx.requestId, deadline: ctx.deadline, signal: ctx.signal };
}

/** The domain parts MetadataService calls reach. */
export interface MetadataDomain {
  catalogue: Catalogue;
  release: ChunkRelease;
  verification: VerificationQueries;
}

/**
 * Translates MetadataService calls to the domain; the owner is always the
 * token's subject, except in the service-only calls that name one.
 */
export function createHandlers({ catalogue, release, verification }: MetadataDomain): ServiceHandlers<typeof MetadataServiceService> {
  return {
    async getFile(request, ctx) {
      return { file: toFile(await catalogue.getFile(ctx.principal.subject, request.fileId)) };
    },

    async listFiles(request, ctx) {
      const page = await catalogue.listFiles(ctx.principal.subject, request);
      return { files: page.files.map(toFile), nextPageToken: page.nextPageToken };
    },

    async deleteFile(request, ctx) {
      const trashed = await catalogue.deleteFile(ctx.principal.subject, request.fileId);
      ctx.log.info({ fileId: trashed.fileId, version: trashed.version }, "file moved to the trash");
      return {};
    },

    async moveFile(request, ctx) {
      const file = await catalogue.moveFile(ctx.principal.subject, request.fileId, request.newName);
      ctx.log.info({ fileId: file.fileId }, "file moved");
      return { file: toFile(file) };
    },

    async restoreFileVersion(request, ctx) {
      const file = await catalogue.restoreFileVersion(ctx.principal.subject, request.fileId, request.version);
      ctx.log.info({ fileId: file.fileId, restored: request.version, version: file.version }, "version restored");
      return { file: toFile(file) };
    },

    async listTrash(request, ctx) {
      const page = await catalogue.listTrash(ctx.principal.subject, request);
      return { files: page.files.map(toFile), nextPageToken: page.nextPageToken };
    },

    async undeleteFile(request, ctx) {
      const file = await catalogue.undeleteFile(ctx.principal.subject, request.fileId);
      ctx.log.info({ fileId: file.fileId }, "file undeleted");
      return { file: toFile(file) };
    },

    async purgeFile(request, ctx) {
      const purged = await catalogue.purgeFile(ctx.principal.subject, request.fileId);
      ctx.log.info({ fileId: purged.fileId, version: purged.version, queuedChunks: purged.queuedChunks }, "file purged");
      return {};
    },

    async getUsage(_request, ctx) {
      return catalogue.getUsage(ctx.principal.subject);
    },

    async setQuota(request, ctx) {
      await catalogue.setQuota(ctx.principal, request.owner, request.quotaBytes);
      ctx.log.info({ owner: request.owner, quotaBytes: request.quotaBytes ?? "default" }, "quota set");
      return {};
    },

    async listFileChunks(request, ctx) {
      return catalogue.listFileChunks(ctx.principal.subject, request.fileId, request);
    },

    async listFileVersions(request, ctx) {
      const versions = await catalogue.listFileVersions(ctx.principal.subject, request.fileId);
      return { versions: versions.map(toVersion) };
    },

    async commitFileVersion(request, ctx) {
      const file = await catalogue.commitFileVersion(ctx.principal.subject, toCommitRequest(request), identityOf(ctx));
      ctx.log.info({ fileId: file.fileId, version: file.version, size: file.size, chunks: file.numChunks }, "version committed");
      return { file: toFile(file) };
    },

    async commitFileVersions(request, ctx) {
      const files = await catalogue.commitFileVersions(ctx.principal.subject, request.files.map(toCommitRequest), identityOf(ctx));
      ctx.log.info({ files: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0) }, "versions committed");
      return { files: files.map(toFile) };
    },

    async releaseChunks(request, ctx) {
      const queued = await release.releaseChunks(ctx.principal.subject, request.sha256s);
      ctx.log.info({ released: request.sha256s.length, queued }, "chunks released to the collector");
      return {};
    },

    async inspectFileVersion(request, ctx) {
      const found = await verification.inspectFileVersion(ctx.principal, request.owner, request.fileId, request.version);
      return { file: toFile(found.file), version: toVersion(found.version), chunks: found.chunks };
    },

    async inspectFileVersions(request, ctx) {
      const found = await verification.inspectFileVersions(ctx.principal, request.versions);
      return {
        versions: found.map((v) =>
          v ? { found: true, file: toFile(v.file), version: toVersion(v.version), chunks: v.chunks } : { found: false, file: undefined, version: undefined, chunks: [] },
        ),
      };
    },

    async checkChunkReferences(request, ctx) {
      const refs = await verification.checkChunkReferences(ctx.principal, request.owner, request.sha256s);
      return { referenced: refs.referenced, queuedForCollection: refs.queued };
    },
  };
}

/** Translates UploadSessionService calls (the chunker's, with the user's token) to the session use cases. */
export function createUploadSessionHandlers(sessions: UploadSessions): ServiceHandlers<typeof UploadSessionServiceService> {
  return {
    async createUploadSession(request, ctx) {
      return { session: toSession(await sessions.create(ctx.principal.subject, request)) };
    },

    async appendUploadChunks(request, ctx) {
      return { session: toSession(await sessions.append(ctx.principal.subject, request.uploadId, request.firstIndex, request.chunks)) };
    },

    async getUploadSession(request, ctx) {
      const found = await sessions.get(ctx.principal.subject, request.uploadId, request.firstIndex, request.maxChunks);
      return { session: toSession(found), chunks: found.chunks };
    },

    async commitUploadSession(request, ctx) {
      const file = await sessions.commit(ctx.principal.subject, request.uploadId, request.sha256, identityOf(ctx));
      ctx.log.info({ uploadId: request.uploadId, fileId: file.fileId, version: file.version, size: file.size }, "upload session committed");
      return { file: toFile(file) };
    },

    async deleteUploadSession(request, ctx) {
      await sessions.delete(ctx.principal.subject, request.uploadId);
      return {};
    },
  };
}

function toCommitRequest({ chunkReceipts, ...request }: CommitFileVersionRequest): CommitRequest {
  return { ...request, chunkReceipts: chunkReceipts.map((r) => ({ issuedAtMs: r.issuedAtUnixMs, mac: r.mac, chunks: r.chunks })) };
}

function toSession({ session, knownSha256 }: SessionView): UploadSession {
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
    file: session.committed && toFile(session.committed),
    knownSha256,
  };
}

function toFile(f: FileRecord): File {
  return {
    fileId: f.fileId,
    name: f.name,
    size: f.size,
    sha256: f.sha256,
    contentType: f.contentType,
    numChunks: f.numChunks,
    version: f.version,
    createdAt: f.createdAt,
    updatedAt: f.updatedAt,
    deletedAt: f.deletedAt,
  };
}

function toVersion(v: FileVersionRecord): FileVersion {
  return {
    fileId: v.fileId,
    version: v.version,
    size: v.size,
    sha256: v.sha256,
    contentType: v.contentType,
    numChunks: v.numChunks,
    createdAt: v.createdAt,
  };
}
