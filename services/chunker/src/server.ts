import type { ChunkerServiceService, DownloadFileResponse, UploadFileContentRequest, UploadFileRequest } from "#gen/cfs/chunker/v1/chunker.js";
import type { HttpBody } from "#gen/google/api/httpbody.js";
import type { ServiceHandlers, RequestContext } from "#lib/grpc-server.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { invalidArgument } from "#lib/errors.js";
import type { Downloader } from "./domain/download.js";
import type { UploadHeader } from "./domain/types.js";
import type { Uploader } from "./domain/upload.js";

/** Downstream calls act for the caller, with its token and request id. */
function identityOf(ctx: RequestContext): CallIdentity {
  return { token: ctx.token, requestId: ctx.requestId, deadline: ctx.deadline, signal: ctx.signal };
}

/** Translates ChunkerService calls to the upload and download domain. */
export function createHandlers(uploader: Uploader, downloader: Downloader): ServiceHandlers<typeof ChunkerServiceService> {
  return {
    async uploadFile(requests, ctx) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done || first.value.payload?.$case !== "metadata") {
        throw invalidArgument("the first UploadFileRequest must set metadata");
      }
      const meta = first.value.payload.value;
      const header: UploadHeader = { name: meta.name, contentType: meta.contentType, size: meta.size, sha256: meta.sha256 };
      const file = await uploader.upload(header, dataFrames(iterator, header.size !== undefined), identityOf(ctx), ctx.log);
      ctx.log.info({ fileId: file.fileId, version: file.version, size: file.size }, "upload committed");
      return { file };
    },

    async *downloadFile(request, ctx) {
      for await (const part of downloader.download(request.fileId, request, identityOf(ctx))) {
        const message: DownloadFileResponse =
          part.kind === "file" ? { payload: { $case: "file", value: part.file } } : { payload: { $case: "data", value: part.data } };
        yield message;
      }
    },

    async uploadFileContent(requests, ctx) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done) throw invalidArgument("the upload request carried no message");
      const { name, size, sha256, content } = first.value;
      const header: UploadHeader = { name, contentType: content?.contentType ?? "", size, sha256 };
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
          continue;
        }
        const message: HttpBody = { contentType: sent ? "" : contentType!, data: part.data, extensions: [] };
        sent = true;
        yield message;
      }
      if (!sent) yield { contentType: contentType!, data: Buffer.alloc(0), extensions: [] };
    },
  };
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

/**
 * The `data` payloads after the metadata message, up to `finish`. A stream
 * that ends without `finish` may be a cancelled call, so it fails the upload
 * unless a declared size tells whether every byte came.
 */
async function* dataFrames(iterator: AsyncIterator<UploadFileRequest>, sizeDeclared: boolean): AsyncGenerator<Buffer> {
  let finished = false;
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    const payload = next.value.payload;
    if (finished) throw invalidArgument("no UploadFileRequest may follow the one that sets finish");
    if (payload?.$case === "finish") {
      finished = true;
      continue;
    }
    if (payload?.$case !== "data") throw invalidArgument("only the first UploadFileRequest may set metadata");
    yield payload.value;
  }
  if (!finished && !sizeDeclared) {
    throw invalidArgument("the upload ended without a finish message or a declared metadata.size, so nothing was committed");
  }
}
