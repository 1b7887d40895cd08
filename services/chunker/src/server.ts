import type {
  ChunkerServiceService,
  DownloadFileResponse,
  GetUploadConfigResponse,
  PutChunksRequest,
  Upload,
  UploadFileContentRequest,
} from "#gen/cfs/chunker/v1/chunker.js";
import type { HttpBody } from "#gen/google/api/httpbody.js";
import type { ServiceHandlers, RequestContext } from "#lib/grpc-server.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { invalidArgument } from "#lib/errors.js";
import { afterWritten } from "#lib/response-stream.js";
import type { DownloadPart, Downloader } from "./domain/download.js";
import type { ChunkBytes, UploadSessions } from "./domain/sessions.js";
import type { UploadHeader } from "./domain/types.js";
import type { Uploader } from "./domain/upload.js";
import type { SessionRecord } from "./ports/upload-sessions.js";
import { batchFiles, dataFrames, RequestReader, toUploadHeader } from "./upload-requests.js";

/** Downstream calls act for the caller, with its token and request id. */
function identityOf(ctx: RequestContext): CallIdentity {
  return { token: ctx.token, requestId: ctx.requestId, deadline: ctx.deadline, signal: ctx.signal };
}

export interface HandlerOptions {
  /**
   * Called with a chunk a download read from block storage once the last of
   * its bytes has been written out to the caller: its memory may be used
   * again (main.ts gives it back to the pool received messages are joined into).
   */
  releaseChunk?: (chunk: Buffer) => void;
}

/** Translates ChunkerService calls to the upload and download domain. */
export function createHandlers(
  uploader: Uploader,
  downloader: Downloader,
  sessions: UploadSessions,
  uploadConfig: GetUploadConfigResponse,
  options: HandlerOptions = {},
): ServiceHandlers<typeof ChunkerServiceService> {
  /** A download's message, marked to release the chunk it ends once it is written out. */
  const releasing = <M extends object>(message: M, part: DownloadPart): M => {
    const chunk = part.kind === "data" ? part.lastOf : undefined;
    const release = options.releaseChunk;
    return chunk && release ? afterWritten(message, () => release(chunk)) : message;
  };
  return {
    async uploadFile(requests, ctx) {
      const reader = new RequestReader(requests[Symbol.asyncIterator]());
      const first = await reader.take();
      if (first.done || first.value.payload?.$case !== "metadata") {
        throw invalidArgument("the first UploadFileRequest must set metadata");
      }
      const header = toUploadHeader(first.value.payload.value);
      const file = await uploader.upload(header, dataFrames(reader, header.size !== undefined), identityOf(ctx), ctx.log);
      ctx.log.info({ fileId: file.fileId, version: file.version, size: file.size }, "upload committed");
      return { file };
    },

    async uploadFiles(requests, ctx) {
      const files = await uploader.uploadBatch(batchFiles(requests), identityOf(ctx), ctx.log);
      ctx.log.info({ files: files.length, bytes: files.reduce((total, f) => total + f.size, 0) }, "batch committed");
      return { files };
    },

    async *downloadFile(request, ctx) {
      for await (const part of downloader.download(request.fileId, request, identityOf(ctx))) {
        const message: DownloadFileResponse =
          part.kind === "file" ? { payload: { $case: "file", value: part.file } } : { payload: { $case: "data", value: part.data } };
        yield releasing(message, part);
      }
    },

    async uploadFileContent(requests, ctx) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done) throw invalidArgument("the upload request carried no message");
      const { name, size, sha256, idempotencyKey, content } = first.value;
      const header: UploadHeader = { name, contentType: content?.contentType ?? "", size, sha256, idempotencyKey };
      const file = await uploader.upload(header, bodyFrames(first.value, iterator), identityOf(ctx), ctx.log);
      ctx.log.info({ fileId: file.fileId, version: file.version, size: file.size }, "upload committed");
      return { file };
    },

    async *downloadFileContent(request, ctx) {
      // Nothing is sent before the first bytes are ready, so a failed lookup
      // or a bad range is the call's status (an HTTP status through Envoy).
      let contentType: string | undefined;
      let sent = false;
      for await (const part of downloader.download(request.fileId, request, identityOf(ctx))) {
        if (part.kind === "file") {
          contentType = part.file.contentType || "application/octet-stream";
          // Gateways turn these into the response's Content-Disposition and Content-Length.
          ctx.sendHeaders({ "content-disposition": contentDisposition(part.file.name), [CONTENT_LENGTH_HEADER]: String(part.bytes) });
          // A REST HEAD: the headers and the content type, no bytes. Envoy's
          // transcoder would pass bytes on into a HEAD response.
          if (ctx.transcodedMethod === "HEAD") break;
          continue;
        }
        const message: HttpBody = { contentType: sent ? "" : contentType!, data: part.data, extensions: [] };
        sent = true;
        yield releasing(message, part);
      }
      if (!sent) yield { contentType: contentType!, data: Buffer.alloc(0), extensions: [] };
    },

    async getUploadConfig() {
      return uploadConfig;
    },

    async startUpload(request, ctx) {
      const { session, missing } = await sessions.start(
        { name: request.name, contentType: request.contentType, size: request.size, sha256: request.sha256, chunkCount: request.chunkCount },
        request.chunks,
        identityOf(ctx),
      );
      ctx.log.info({ uploadId: session.uploadId, chunks: session.chunkCount, size: session.size }, "upload session started");
      return { upload: toUpload(session), missing };
    },

    async declareChunks(request, ctx) {
      const { session, missing } = await sessions.declare(request.uploadId, request.firstIndex, request.chunks, identityOf(ctx));
      return { upload: toUpload(session), missing };
    },

    async getUpload(request, ctx) {
      const { session, missing, missingBytes } = await sessions.status(request.uploadId, identityOf(ctx));
      return { upload: toUpload(session), missing, missingBytes };
    },

    async putChunks(requests, ctx) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done || first.value.uploadId === "") throw invalidArgument("the first PutChunksRequest must set upload_id");
      const uploadId = first.value.uploadId;
      const stored = await sessions.put(uploadId, chunkBytes(first.value, iterator), identityOf(ctx));
      ctx.log.info({ uploadId, ...stored }, "upload chunks stored");
      return stored;
    },

    async finishUpload(request, ctx) {
      const file = await sessions.finish(request.uploadId, identityOf(ctx));
      ctx.log.info({ uploadId: request.uploadId, fileId: file.fileId, version: file.version, size: file.size }, "upload committed");
      return { file };
    },

    async cancelUpload(request, ctx) {
      await sessions.cancel(request.uploadId, identityOf(ctx));
      ctx.log.info({ uploadId: request.uploadId }, "upload session cancelled");
      return {};
    },
  };
}

function toUpload(session: SessionRecord): Upload {
  return {
    uploadId: session.uploadId,
    name: session.name,
    contentType: session.contentType,
    size: session.size,
    chunkCount: session.chunkCount,
    chunksDeclared: session.chunksDeclared,
    createdAt: session.createdAt,
    expiresAt: session.expiresAt,
    file: session.file,
  };
}

/** The bytes of a PutChunks stream; every message after the first may repeat upload_id, never name another. */
async function* chunkBytes(first: PutChunksRequest, rest: AsyncIterator<PutChunksRequest>): AsyncGenerator<ChunkBytes> {
  if (first.index === undefined) throw invalidArgument("the first PutChunksRequest must set index");
  yield { index: first.index, data: first.content?.data ?? Buffer.alloc(0) };
  for (let next = await rest.next(); !next.done; next = await rest.next()) {
    const { uploadId, index, content } = next.value;
    if (uploadId !== "" && uploadId !== first.uploadId) throw invalidArgument("every PutChunksRequest of a call must be for the same upload_id");
    yield { index, data: content?.data ?? Buffer.alloc(0) };
  }
}

/** The body bytes of a raw upload; only the first message may carry the query fields. */
async function* bodyFrames(first: UploadFileContentRequest, rest: AsyncIterator<UploadFileContentRequest>): AsyncGenerator<Buffer> {
  if (first.content?.data.length) yield first.content.data;
  for (let next = await rest.next(); !next.done; next = await rest.next()) {
    const { name, size, sha256, content } = next.value;
    if (name || size !== undefined || sha256 !== undefined) throw invalidArgument("only the first upload message may set name, size or sha256");
    if (content?.data.length) yield content.data;
  }
}

/** The download's length in bytes, as a response header (gRPC reserves content-length for itself). */
const CONTENT_LENGTH_HEADER = "x-cfs-content-length";

/**
 * RFC 6266: an attachment named after the last segment of the file's name,
 * as `filename*` (UTF-8, percent-encoded) with an ASCII `filename` fallback
 * for old clients. ASCII throughout, as response headers must be.
 */
function contentDisposition(name: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const fallback = base.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  const encoded = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
