import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { MetadataServiceService, type InspectFileVersionRequest, type InspectFileVersionResponse } from "#gen/cfs/metadata/v1/metadata.js";
import { channelOptions } from "#lib/grpc-client.js";
import { GrpcCatalogueInspector } from "./grpc-metadata.js";
import { serveOnLoopback } from "#lib/loopback-grpc.spec-support.js";

const FILE_ID = "0b7e4a52-2c1f-4e8a-9d3b-5f6a7c8d9e0f";
const as = { token: "t" };

let stopServer: (() => void) | undefined;
let inspector: GrpcCatalogueInspector | undefined;
afterEach(() => {
  inspector?.close();
  stopServer?.();
});

function answer(request: InspectFileVersionRequest): InspectFileVersionResponse {
  return {
    file: { fileId: request.fileId, name: "n", size: 3, sha256: "s", contentType: "", numChunks: 1, version: 2, createdAt: undefined, updatedAt: undefined },
    version: { fileId: request.fileId, version: request.version || 2, size: 3, sha256: "s", contentType: "", numChunks: 1, createdAt: undefined },
    chunks: [{ index: 0, sha256: "c", size: 3, offset: 0 }],
  };
}

/** A metadata service on loopback that implements only `handlers`. */
async function serve(handlers: Record<string, unknown>): Promise<GrpcCatalogueInspector> {
  const server = await serveOnLoopback(MetadataServiceService, handlers);
  stopServer = server.stop;
  inspector = new GrpcCatalogueInspector(server.address, channelOptions(4 * 1024 * 1024, 4 * 1024 * 1024));
  return inspector;
}

const single: grpc.handleUnaryCall<InspectFileVersionRequest, InspectFileVersionResponse> = (call, done) => {
  if (call.request.fileId !== FILE_ID) done({ code: grpc.status.NOT_FOUND, details: "file not found" });
  else done(null, answer(call.request));
};

describe("GrpcCatalogueInspector.inspectFileVersions", () => {
  it("reads each answer of one InspectFileVersions call, a version not found as undefined", async () => {
    let calls = 0;
    const client = await serve({
      inspectFileVersions: (call: grpc.ServerUnaryCall<{ versions: InspectFileVersionRequest[] }, unknown>, done: grpc.sendUnaryData<unknown>) => {
        calls++;
        done(null, { versions: call.request.versions.map((r) => (r.fileId === FILE_ID ? { found: true, ...answer(r) } : { found: false, chunks: [] })) });
      },
    });
    const found = await client.inspectFileVersions(
      [
        { owner: "alice", fileId: FILE_ID, version: 1 },
        { owner: "alice", fileId: "gone", version: 0 },
      ],
      as,
    );
    expect(found).toEqual([{ currentVersion: 2, version: 1, size: 3, sha256: "s", numChunks: 1, chunks: [{ index: 0, sha256: "c", size: 3, offset: 0 }] }, undefined]);
    expect(calls).toBe(1);
  });

  it("falls back to one InspectFileVersion each when metadata does not know InspectFileVersions yet", async () => {
    const client = await serve({ inspectFileVersion: single });
    const found = await client.inspectFileVersions(
      [
        { owner: "alice", fileId: "gone", version: 0 },
        { owner: "alice", fileId: FILE_ID, version: 0 },
      ],
      as,
    );
    expect(found).toEqual([undefined, expect.objectContaining({ version: 2, currentVersion: 2 })]);
  });

  it("names the call in other failures, keeping their kind", async () => {
    const client = await serve({
      inspectFileVersions: (_call: unknown, done: grpc.sendUnaryData<unknown>) => done({ code: grpc.status.UNAVAILABLE, details: "restarting" }),
    });
    await expect(client.inspectFileVersions([{ owner: "alice", fileId: FILE_ID, version: 0 }], as)).rejects.toMatchObject({
      kind: "unavailable",
      message: "metadata InspectFileVersions: restarting",
    });
  });
});
