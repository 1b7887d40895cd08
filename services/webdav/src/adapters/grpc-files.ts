import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import type { ChunkerServiceClient, DownloadFileResponse } from "#gen/cfs/chunker/v1/chunker.js";
import { MetadataServiceClient, type File, type FileChunk } from "#gen/cfs/metadata/v1/metadata.js";
import { ChunkerClient } from "#lib/bulk-codecs.js";
import { CfsError, fromGrpcError } from "#lib/errors.js";
import { callMetadata, callUnary, cancelOnAbort, type CallIdentity } from "#lib/grpc-client.js";
import type { DavFile, DavUsage, FileCatalogue, FileContent } from "../ports/files.js";

const PAGE_SIZE = 1000;
/** Upload bytes go to the chunker in messages of about this size. */
const FRAME_BYTES = 256 * 1024;

/** The metadata service's MetadataService over gRPC, acting with the user's token. */
export class GrpcFileCatalogue implements FileCatalogue {
  readonly client: MetadataServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new MetadataServiceClient(address, credentials.createInsecure(), options);
  }

  async list(prefix: string, as: CallIdentity): Promise<DavFile[]> {
    const files: DavFile[] = [];
    let pageToken = "";
    do {
      const page = await callUnary(this.client.listFiles.bind(this.client), { prefix, pageSize: PAGE_SIZE, pageToken }, as, "metadata ListFiles");
      files.push(...page.files.map(toDavFile));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return files;
  }

  async find(name: string, as: CallIdentity): Promise<DavFile | undefined> {
    // A name sorts before every longer name it begins: the first of the prefix listing.
    const page = await callUnary(this.client.listFiles.bind(this.client), { prefix: name, pageSize: 1, pageToken: "" }, as, "metadata ListFiles");
    const first = page.files[0];
    return first && first.name === name ? toDavFile(first) : undefined;
  }

  async any(prefix: string, as: CallIdentity): Promise<boolean> {
    const page = await callUnary(this.client.listFiles.bind(this.client), { prefix, pageSize: 1, pageToken: "" }, as, "metadata ListFiles");
    return page.files.length > 0;
  }

  async remove(fileId: string, as: CallIdentity): Promise<void> {
    await callUnary(this.client.deleteFile.bind(this.client), { fileId }, as, "metadata DeleteFile");
  }

  async copy(file: DavFile, name: string, as: CallIdentity): Promise<DavFile> {
    // The newest version's chunk list committed under the new name. Metadata
    // checks that block storage holds every chunk for this user, so only the
    // user's own chunks can be referenced; no byte is read or written.
    // The list comes a page at a time; CommitFileVersion takes it whole.
    const chunks: FileChunk[] = [];
    let pageToken = "";
    do {
      const page = await callUnary(
        this.client.listFileChunks.bind(this.client),
        { fileId: file.fileId, version: file.version, pageSize: 10_000, pageToken },
        as,
        "metadata ListFileChunks",
      );
      chunks.push(...page.chunks);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    const response = await callUnary(
      this.client.commitFileVersion.bind(this.client),
      { name, contentType: file.contentType, size: file.size, sha256: file.sha256, chunks, chunkReceipts: [] },
      as,
      "metadata CommitFileVersion",
    );
    return toDavFile(response.file);
  }

  async move(file: DavFile, name: string, as: CallIdentity): Promise<DavFile> {
    const response = await callUnary(this.client.moveFile.bind(this.client), { fileId: file.fileId, newName: name }, as, "metadata MoveFile");
    return toDavFile(response.file);
  }

  async usage(as: CallIdentity): Promise<DavUsage> {
    const { usedBytes, quotaBytes } = await callUnary(this.client.getUsage.bind(this.client), {}, as, "metadata GetUsage");
    return { usedBytes, quotaBytes };
  }

  close(): void {
    this.client.close();
  }
}

/**
 * The chunker over gRPC: uploads and downloads stream, with backpressure both
 * ways, each payload copied once on its way in or out (the bulk codecs).
 */
export class GrpcFileContent implements FileContent {
  readonly client: ChunkerServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new ChunkerClient(address, credentials.createInsecure(), options);
  }

  async *download(fileId: string, offset: number, length: number, as: CallIdentity): AsyncGenerator<Buffer> {
    const call = this.client.downloadFile({ fileId, offset, length, version: 0 }, callMetadata(as));
    const release = cancelOnAbort(call, as.signal);
    try {
      for await (const message of call as AsyncIterable<DownloadFileResponse>) {
        if (message.payload?.$case === "data") yield message.payload.value;
      }
    } catch (err) {
      throw fromGrpcError(err, "chunker DownloadFile");
    } finally {
      release();
      call.cancel();
    }
  }

  upload(name: string, contentType: string, size: number | undefined, data: AsyncIterable<Buffer>, as: CallIdentity): Promise<DavFile> {
    return new Promise<DavFile>((resolve, reject) => {
      const call = this.client.uploadFile(callMetadata(as), (err, response) =>
        err ? reject(fromGrpcError(err, "chunker UploadFile")) : resolve(toDavFile(response.file)),
      );
      const release = cancelOnAbort(call, as.signal);
      const send = async () => {
        call.write({ payload: { $case: "metadata", value: { name, contentType, size } } });
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        const flush = async () => {
          const frame = Buffer.concat(pending, pendingBytes);
          pending = [];
          pendingBytes = 0;
          if (!call.write({ payload: { $case: "data", value: frame } })) await new Promise((r) => call.once("drain", r));
        };
        for await (const part of data) {
          pending.push(part);
          pendingBytes += part.length;
          if (pendingBytes >= FRAME_BYTES) await flush();
        }
        if (pendingBytes > 0) await flush();
        call.write({ payload: { $case: "finish", value: {} } });
        call.end();
      };
      send()
        .catch((err: unknown) => {
          // The body failed (the client left): nothing may be committed.
          call.cancel();
          reject(err instanceof CfsError ? err : new CfsError("cancelled", "the request body did not arrive whole", { cause: err }));
        })
        .finally(release);
    });
  }

  close(): void {
    this.client.close();
  }
}

function toDavFile(f: File | undefined): DavFile {
  if (!f) throw new Error("the service answered without a file");
  return {
    fileId: f.fileId,
    name: f.name,
    size: f.size,
    sha256: f.sha256,
    contentType: f.contentType,
    version: f.version,
    createdAt: f.createdAt ?? new Date(0),
    updatedAt: f.updatedAt ?? f.createdAt ?? new Date(0),
  };
}
