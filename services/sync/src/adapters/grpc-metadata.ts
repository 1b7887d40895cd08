import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import { MetadataServiceClient, type InspectFileVersionResponse } from "#gen/cfs/metadata/v1/metadata.js";
import { callUnary, type CallIdentity } from "#lib/grpc-client.js";
import type { CatalogueInspector, InspectedVersion, VersionInspections, VersionRequest } from "../ports/peers.js";
import { isNotFound, isUnimplemented, withCallName } from "./peer-errors.js";

/** The metadata service's internal inspection RPCs, called with a service identity. */
export class GrpcCatalogueInspector implements CatalogueInspector, VersionInspections {
  readonly client: MetadataServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new MetadataServiceClient(address, credentials.createInsecure(), options);
  }

  async inspectFileVersion(owner: string, fileId: string, version: number, as: CallIdentity): Promise<InspectedVersion | undefined> {
    const what = "metadata InspectFileVersion";
    try {
      const response = await callUnary(this.client.inspectFileVersion.bind(this.client), { owner, fileId, version }, as, what);
      return inspectedFrom(response, what);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw withCallName(err, what);
    }
  }

  async inspectFileVersions(requests: readonly VersionRequest[], as: CallIdentity): Promise<Array<InspectedVersion | undefined>> {
    const what = "metadata InspectFileVersions";
    try {
      const response = await callUnary(this.client.inspectFileVersions.bind(this.client), { versions: [...requests] }, as, what);
      if (response.versions.length !== requests.length) throw new Error(`${what} answered ${response.versions.length} versions for ${requests.length}`);
      return response.versions.map((v) => (v.found ? inspectedFrom(v, what) : undefined));
    } catch (err) {
      // A metadata service older than this one (during a rolling upgrade): one call each.
      if (isUnimplemented(err)) {
        return Promise.all(requests.map((r) => this.inspectFileVersion(r.owner, r.fileId, r.version, as)));
      }
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

/** An InspectFileVersion answer, or an entry of InspectFileVersions' (the same fields), as the port's shape. */
function inspectedFrom(answer: Pick<InspectFileVersionResponse, "file" | "version" | "chunks">, what: string): InspectedVersion {
  if (!answer.file || !answer.version) throw new Error(`${what} answered without a file or version`);
  return {
    currentVersion: answer.file.version,
    version: answer.version.version,
    size: answer.version.size,
    sha256: answer.version.sha256,
    numChunks: answer.version.numChunks,
    chunks: answer.chunks.map((c) => ({ index: c.index, sha256: c.sha256, size: c.size, offset: c.offset })),
  };
}
