import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import { MetadataServiceClient } from "#gen/cfs/metadata/v1/metadata.js";
import { callUnary, type CallIdentity } from "#lib/grpc-client.js";
import type { CatalogueInspector, InspectedVersion } from "../ports/peers.js";
import { isNotFound, withCallName } from "./peer-errors.js";

/** The metadata service's internal inspection RPCs, called with a service identity. */
export class GrpcCatalogueInspector implements CatalogueInspector {
  readonly client: MetadataServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new MetadataServiceClient(address, credentials.createInsecure(), options);
  }

  async inspectFileVersion(owner: string, fileId: string, version: number, as: CallIdentity): Promise<InspectedVersion | undefined> {
    const what = "metadata InspectFileVersion";
    try {
      const response = await callUnary(this.client.inspectFileVersion.bind(this.client), { owner, fileId, version }, as, what);
      if (!response.file || !response.version) throw new Error(`${what} answered without a file or version`);
      return {
        currentVersion: response.file.version,
        version: response.version.version,
        size: response.version.size,
        sha256: response.version.sha256,
        numChunks: response.version.numChunks,
        chunks: response.chunks.map((c) => ({ index: c.index, sha256: c.sha256, size: c.size, offset: c.offset })),
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw withCallName(err, what);
    }
  }

  async chunkReferences(owner: string, hashes: readonly string[], as: CallIdentity): Promise<{ referenced: Set<string>; queued: Set<string> }> {
    const what = "metadata CheckChunkReferences";
    try {
      const response = await callUnary(this.client.checkChunkReferences.bind(this.client), { owner, sha256s: [...hashes] }, as, what);
      return { referenced: new Set(response.referenced), queued: new Set(response.queuedForCollection) };
    } catch (err) {
      throw withCallName(err, what);
    }
  }

  close(): void {
    this.client.close();
  }
}
