import type { ChunkerServiceService, DownloadFileResponse, UploadFileRequest } from "../../../gen/cfs/chunker/v1/chunker.js";
import type { ServiceHandlers, RequestContext } from "../../../lib/grpc-server.js";
import type { CallIdentity } from "../../../lib/grpc-client.js";
import { invalidArgument } from "../../../lib/errors.js";
import type { Downloader } from "./domain/download.js";
import type { UploadHeader } from "./domain/types.js";
import type { Uploader } from "./domain/upload.js";

/** Downstream calls act for the caller, with its token and request id. */
function identityOf(ctx: RequestContext): CallIdentity {
  return { token: ctx.token, requestId: ctx.requestId, deadline: ctx.deadline };
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
      const file = await uploader.upload(header, dataFrames(iterator), identityOf(ctx), ctx.log);
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
  };
}

/** The `data` payloads after the metadata message; a second metadata is an error. */
async function* dataFrames(iterator: AsyncIterator<UploadFileRequest>): AsyncGenerator<Buffer> {
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    const payload = next.value.payload;
    if (payload?.$case !== "data") throw invalidArgument("only the first UploadFileRequest may set metadata");
    yield payload.value;
  }
}
