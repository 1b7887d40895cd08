import type { ChannelOptions } from "@grpc/grpc-js";
import { credentials } from "@grpc/grpc-js";
import { MetadataServiceClient, type File } from "#gen/cfs/metadata/v1/metadata.js";
import { callUnary, type CallIdentity } from "#lib/grpc-client.js";
import type { ChunkRef, StoredFile } from "../domain/types.js";
import type { Catalogue, CommitRequest } from "../ports/catalogue.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";

/** The metadata service over gRPC, acting with the caller's token. */
export class GrpcCatalogue implements Catalogue {
  readonly client: MetadataServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new MetadataServiceClient(address, credentials.createInsecure(), options);
  }

  async commit(request: CommitRequest, as: CallIdentity): Promise<StoredFile> {
    const response = await callUnary(
      this.client.commitFileVersion.bind(this.client),
      { ...request, chunks: [...request.chunks] },
      as,
      "metadata CommitFileVersion",
    );
    return toStoredFile(response.file);
  }

  async getFile(fileId: string, as: CallIdentity): Promise<StoredFile> {
    const response = await callUnary(this.client.getFile.bind(this.client), { fileId }, as, "metadata GetFile");
    return toStoredFile(response.file);
  }

  async listChunks(fileId: string, version: number, as: CallIdentity): Promise<ChunkRef[]> {
    const response = await callUnary(
      this.client.listFileChunks.bind(this.client),
      { fileId, version },
      as,
      "metadata ListFileChunks",
    );
    return response.chunks;
  }

  async releaseChunks(sha256s: readonly string[], as: CallIdentity): Promise<void> {
    for (let i = 0; i < sha256s.length; i += MAX_HASHES_PER_CALL) {
      await callUnary(
        this.client.releaseChunks.bind(this.client),
        { sha256s: sha256s.slice(i, i + MAX_HASHES_PER_CALL) },
        as,
        "metadata ReleaseChunks",
      );
    }
  }

  close(): void {
    this.client.close();
  }
}

function toStoredFile(file: File | undefined): StoredFile {
  if (!file) throw new Error("metadata answered without a file");
  return file;
}
