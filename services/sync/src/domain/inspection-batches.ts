import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_VERSIONS_PER_INSPECTION } from "#lib/limits.js";
import type { CatalogueInspector, InspectedVersion, VersionInspections, VersionRequest } from "../ports/peers.js";
import { TurnBatches } from "./turn-batches.js";

interface Asked {
  request: VersionRequest;
  resolve(found: InspectedVersion | undefined): void;
  reject(err: unknown): void;
}

/**
 * Verification's inspections gathered into InspectFileVersions calls. The
 * worker verifies several events at once and each begins by inspecting its
 * version, so the inspections asked in one turn of the event loop go as one
 * call (one RPC, one statement in metadata) instead of one each: the same
 * answers, a fraction of the calls. Only inspections made with the same
 * identity share a call; a failed call fails each inspection it carried
 * (the worker retries those events, as it would have one by one).
 */
export class BatchedInspections implements CatalogueInspector {
  private readonly asked = new TurnBatches<CallIdentity, Asked>((as, asked) => this.send(as, asked));

  constructor(private readonly inner: VersionInspections & Pick<CatalogueInspector, "chunkReferences">) {}

  inspectFileVersion(owner: string, fileId: string, version: number, as: CallIdentity): Promise<InspectedVersion | undefined> {
    return new Promise((resolve, reject) => this.asked.add(as, { request: { owner, fileId, version }, resolve, reject }));
  }

  chunkReferences(owner: string, hashes: readonly string[], as: CallIdentity): Promise<{ referenced: Set<string>; queued: Set<string> }> {
    return this.inner.chunkReferences(owner, hashes, as);
  }

  private send(as: CallIdentity, asked: readonly Asked[]): void {
    for (let start = 0; start < asked.length; start += MAX_VERSIONS_PER_INSPECTION) {
      const call = asked.slice(start, start + MAX_VERSIONS_PER_INSPECTION);
      this.inner.inspectFileVersions(
        call.map((a) => a.request),
        as,
      ).then(
        (found) => call.forEach((a, i) => a.resolve(found[i])),
        (err: unknown) => call.forEach((a) => a.reject(err)),
      );
    }
  }
}
