import type { UploadFileRequest, UploadFilesRequest, UploadMetadata } from "#gen/cfs/chunker/v1/chunker.js";
import { invalidArgument } from "#lib/errors.js";
import type { UploadHeader } from "./domain/types.js";
import type { BatchFile } from "./domain/upload.js";

/**
 * The request streams of UploadFile and UploadFiles as the domain takes them:
 * headers, and each file's bytes as an iterable that ends where its `data`
 * messages end.
 */

export function toUploadHeader(meta: UploadMetadata): UploadHeader {
  return { name: meta.name, contentType: meta.contentType, size: meta.size, sha256: meta.sha256, idempotencyKey: meta.idempotencyKey };
}

/** A request stream read with one message of look-ahead, so a file's bytes can stop at the message that is not one of them. */
export class RequestReader<M> {
  private ahead: Promise<IteratorResult<M>> | undefined;

  constructor(private readonly iterator: AsyncIterator<M>) {}

  /** The next message, left to be taken. */
  peek(): Promise<IteratorResult<M>> {
    return (this.ahead ??= this.iterator.next());
  }

  take(): Promise<IteratorResult<M>> {
    const next = this.peek();
    this.ahead = undefined;
    return next;
  }
}

type WithData = UploadFileRequest | UploadFilesRequest;

/** The payloads of the `data` messages that come next, up to (not taking) the first other message or the stream's end. */
async function* dataUntilOther(requests: RequestReader<WithData>): AsyncGenerator<Buffer> {
  for (;;) {
    const next = await requests.peek();
    if (next.done || next.value.payload?.$case !== "data") return;
    await requests.take();
    yield next.value.payload.value;
  }
}

/** Fails unless the stream ends here: `finish` is the last message. */
async function expectEnd(requests: RequestReader<WithData>, message: string): Promise<void> {
  if (!(await requests.take()).done) throw invalidArgument(message);
}

/**
 * The `data` payloads after UploadFile's metadata message, up to `finish`. A
 * stream that ends without `finish` may be a cancelled call, so it fails the
 * upload unless a declared size tells whether every byte came.
 */
export async function* dataFrames(requests: RequestReader<UploadFileRequest>, sizeDeclared: boolean): AsyncGenerator<Buffer> {
  yield* dataUntilOther(requests);
  const next = await requests.take();
  if (next.done) {
    if (!sizeDeclared) throw invalidArgument("the upload ended without a finish message or a declared metadata.size, so nothing was committed");
    return;
  }
  if (next.value.payload?.$case !== "finish") throw invalidArgument("only the first UploadFileRequest may set metadata");
  await expectEnd(requests, "no UploadFileRequest may follow the one that sets finish");
}

/**
 * The files of an UploadFiles stream: each `file` message with the `data`
 * messages after it. Only `finish` completes the batch — a cancelled client
 * may half-close its stream, which must not commit what came so far.
 */
export async function* batchFiles(messages: AsyncIterable<UploadFilesRequest>): AsyncGenerator<BatchFile> {
  const requests = new RequestReader(messages[Symbol.asyncIterator]());
  for (;;) {
    const next = await requests.take();
    if (next.done) throw invalidArgument("the UploadFiles stream ended without its finish message");
    const payload = next.value.payload;
    if (payload?.$case === "finish") {
      await expectEnd(requests, "no UploadFilesRequest may follow the one that sets finish");
      return;
    }
    if (payload?.$case === "data") throw invalidArgument("a data message came before the first file message");
    if (payload?.$case !== "file") throw invalidArgument("every UploadFilesRequest must set file, data or finish");
    const data = dataUntilOther(requests);
    yield { header: toUploadHeader(payload.value), data };
    // Otherwise the file's remaining bytes would be read as the batch's next message.
    if (!(await data.next()).done) throw new Error("a file's data must be read to its end before the next file");
  }
}
