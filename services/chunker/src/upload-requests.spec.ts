import { describe, expect, it } from "vitest";
import type { UploadFileRequest, UploadFilesRequest, UploadMetadata } from "#gen/cfs/chunker/v1/chunker.js";
import { batchFiles, dataFrames, RequestReader } from "./upload-requests.js";

const meta = (name: string, extra: Partial<UploadMetadata> = {}): UploadMetadata => ({ name, contentType: "", ...extra });
const fileMsg = (name: string, extra: Partial<UploadMetadata> = {}): UploadFilesRequest => ({ payload: { $case: "file", value: meta(name, extra) } });
const dataMsg = (text: string): UploadFilesRequest & UploadFileRequest => ({ payload: { $case: "data", value: Buffer.from(text) } });
const finishMsg: UploadFilesRequest & UploadFileRequest = { payload: { $case: "finish", value: {} } };

/** The messages as a request stream, counting how many were read. */
function requests<M>(messages: M[]) {
  const source = {
    pulled: 0,
    async *[Symbol.asyncIterator](): AsyncGenerator<M> {
      for (const m of messages) {
        source.pulled++;
        yield m;
      }
    },
  };
  return source;
}

async function text(data: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const part of data) parts.push(part);
  return Buffer.concat(parts).toString();
}

/** Every file as [name, its bytes as text], each file's data read to its end as the domain does. */
async function parse(messages: UploadFilesRequest[]): Promise<Array<[string, string]>> {
  const files: Array<[string, string]> = [];
  for await (const { header, data } of batchFiles(requests(messages))) files.push([header.name, await text(data)]);
  return files;
}

describe("batchFiles", () => {
  it("gives each file the data messages up to the next file or finish, and its metadata as the header", async () => {
    const messages = [
      fileMsg("a", { size: 5, sha256: "f".repeat(64), contentType: "text/plain", idempotencyKey: "k" }),
      dataMsg("he"),
      dataMsg("llo"),
      fileMsg("empty", { size: 0 }),
      fileMsg("c", { size: 1 }),
      dataMsg("x"),
      finishMsg,
    ];
    expect(await parse(messages)).toEqual([
      ["a", "hello"],
      ["empty", ""],
      ["c", "x"],
    ]);
    for await (const { header, data } of batchFiles(requests(messages))) {
      expect(header).toEqual({ name: "a", contentType: "text/plain", size: 5, sha256: "f".repeat(64), idempotencyKey: "k" });
      await text(data);
      break;
    }
  });

  it("answers no files for a lone finish", async () => {
    expect(await parse([finishMsg])).toEqual([]);
  });

  it("reads the stream only as far as the files are read", async () => {
    const source = requests([fileMsg("a"), dataMsg("1"), dataMsg("2"), fileMsg("b"), finishMsg]);
    const files = batchFiles(source)[Symbol.asyncIterator]();
    const first = await files.next();
    expect(source.pulled).toBe(1);
    const data = first.value!.data[Symbol.asyncIterator]();
    await data.next();
    expect(source.pulled).toBe(2);
    await data.next();
    await data.next();
    // The file ended on seeing b's message, which is left for the batch.
    expect(source.pulled).toBe(4);
    expect((await files.next()).value!.header.name).toBe("b");
    expect(source.pulled).toBe(4);
  });

  it.each<[string, UploadFilesRequest[], string]>([
    ["data before any file", [dataMsg("x"), fileMsg("a"), finishMsg], "a data message came before the first file message"],
    ["a stream that ends without finish", [fileMsg("a"), dataMsg("x")], "the UploadFiles stream ended without its finish message"],
    ["an empty stream", [], "the UploadFiles stream ended without its finish message"],
    ["data after finish", [fileMsg("a"), finishMsg, dataMsg("x")], "no UploadFilesRequest may follow the one that sets finish"],
    ["a file after finish", [finishMsg, fileMsg("a")], "no UploadFilesRequest may follow the one that sets finish"],
    ["a message with no payload", [fileMsg("a"), {}, finishMsg], "every UploadFilesRequest must set file, data or finish"],
  ])("refuses %s with INVALID_ARGUMENT", async (_case, messages, message) => {
    await expect(parse(messages)).rejects.toMatchObject({ kind: "invalid-argument", message });
  });

  it("refuses to go on to the next file while this one has bytes unread", async () => {
    const files = batchFiles(requests([fileMsg("a"), dataMsg("x"), fileMsg("b"), finishMsg]))[Symbol.asyncIterator]();
    await files.next();
    await expect(files.next()).rejects.toThrow("a file's data must be read to its end before the next file");
  });
});

describe("dataFrames", () => {
  async function read(messages: UploadFileRequest[], sizeDeclared: boolean): Promise<string> {
    return text(dataFrames(new RequestReader(requests(messages)[Symbol.asyncIterator]()), sizeDeclared));
  }

  it("yields the data up to finish", async () => {
    expect(await read([dataMsg("ab"), dataMsg("c"), finishMsg], false)).toBe("abc");
  });

  it("accepts a stream without finish only when the size was declared", async () => {
    expect(await read([dataMsg("ab")], true)).toBe("ab");
    await expect(read([dataMsg("ab")], false)).rejects.toMatchObject({
      kind: "invalid-argument",
      message: "the upload ended without a finish message or a declared metadata.size, so nothing was committed",
    });
  });

  it.each<[string, UploadFileRequest[], string]>([
    ["a message after finish", [dataMsg("a"), finishMsg, dataMsg("b")], "no UploadFileRequest may follow the one that sets finish"],
    ["a second metadata message", [dataMsg("a"), { payload: { $case: "metadata", value: meta("b") } }], "only the first UploadFileRequest may set metadata"],
  ])("refuses %s", async (_case, messages, message) => {
    await expect(read(messages, true)).rejects.toMatchObject({ kind: "invalid-argument", message });
  });
});
