import * as grpc from "@grpc/grpc-js";
import { ChunkerServiceClient, type DownloadFileResponse } from "#gen/cfs/chunker/v1/chunker.js";
import { MetadataServiceClient, type File } from "#gen/cfs/metadata/v1/metadata.js";
import { BlockStorageServiceClient } from "#gen/cfs/blockstore/v1/blockstore.js";
import { SyncServiceClient } from "#gen/cfs/sync/v1/sync.js";
import { channelOptions } from "#lib/grpc-client.js";
import type { ServiceName } from "../../dev/stack.js";

const OPTIONS = channelOptions(8 * 1024 * 1024, 4 * 1024 * 1024);

/** Generated clients for every service of a running stack, for one caller. */
export function clientsFor(addresses: Record<ServiceName, string>, options: grpc.ChannelOptions = OPTIONS) {
  const creds = grpc.credentials.createInsecure();
  return {
    chunker: new ChunkerServiceClient(addresses.chunker, creds, options),
    metadata: new MetadataServiceClient(addresses.metadata, creds, options),
    blocks: new BlockStorageServiceClient(addresses["block-storage"], creds, options),
    sync: new SyncServiceClient(addresses.sync, creds, options),
    close() {
      for (const c of [this.chunker, this.metadata, this.blocks, this.sync]) c.close();
    },
  };
}
export type Clients = ReturnType<typeof clientsFor>;

export function auth(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set("authorization", `Bearer ${token}`);
  return md;
}

type Unary<Q, R> = (req: Q, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (e: grpc.ServiceError | null, r: R) => void) => unknown;

/** A unary call as a promise; rejects with the grpc ServiceError. */
export function call<Q, R>(method: Unary<Q, R>, client: grpc.Client, request: Q, token: string | undefined): Promise<R> {
  return new Promise((resolve, reject) =>
    method.call(client, request, auth(token), { deadline: Date.now() + 30_000 }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

export interface UploadOptions {
  name: string;
  size?: number;
  sha256?: string;
  contentType?: string;
  frameSize?: number;
  /** Send the closing `finish` message (default true). */
  finish?: boolean;
  idempotencyKey?: string;
}

/** Streams `data` to ChunkerService.UploadFile in frames, honouring backpressure. */
export async function upload(clients: Clients, token: string | undefined, data: Buffer, options: UploadOptions): Promise<File> {
  const frameSize = options.frameSize ?? 256 * 1024;
  return new Promise<File>((resolve, reject) => {
    const stream = clients.chunker.uploadFile(auth(token), (err, res) => (err ? reject(err) : resolve(res.file!)));
    void (async () => {
      stream.write({
        payload: {
          $case: "metadata",
          value: { name: options.name, size: options.size, sha256: options.sha256, contentType: options.contentType ?? "", idempotencyKey: options.idempotencyKey },
        },
      });
      for (let offset = 0; offset < data.length; offset += frameSize) {
        const ok = stream.write({ payload: { $case: "data", value: data.subarray(offset, offset + frameSize) } });
        if (!ok) await new Promise((r) => stream.once("drain", r));
      }
      if (options.finish !== false) stream.write({ payload: { $case: "finish", value: {} } });
      stream.end();
    })().catch(reject);
  });
}

/** One file of an UploadFiles batch: its bytes, and the header fields a test may set (the size declared defaults to the bytes'). */
export interface BatchFile {
  name: string;
  data: Buffer;
  size?: number;
  sha256?: string;
  idempotencyKey?: string;
}

/** Streams files to ChunkerService.UploadFiles (each header, then its bytes in frames), ending with `finish` unless told not to. */
export async function uploadBatch(clients: Clients, token: string | undefined, files: readonly BatchFile[], options: { finish?: boolean; frameSize?: number } = {}): Promise<File[]> {
  const frameSize = options.frameSize ?? 64 * 1024;
  return new Promise<File[]>((resolve, reject) => {
    const stream = clients.chunker.uploadFiles(auth(token), (err, res) => (err ? reject(err) : resolve(res.files)));
    void (async () => {
      for (const f of files) {
        stream.write({
          payload: { $case: "file", value: { name: f.name, size: f.size ?? f.data.length, sha256: f.sha256, contentType: "", idempotencyKey: f.idempotencyKey } },
        });
        for (let offset = 0; offset < f.data.length; offset += frameSize) {
          const ok = stream.write({ payload: { $case: "data", value: f.data.subarray(offset, offset + frameSize) } });
          if (!ok) await new Promise((r) => stream.once("drain", r));
        }
      }
      if (options.finish !== false) stream.write({ payload: { $case: "finish", value: {} } });
      stream.end();
    })().catch(reject);
  });
}

/** Downloads a file (or range); returns the first `file` message and the bytes. */
export function download(
  clients: Clients,
  token: string | undefined,
  fileId: string,
  range: { offset?: number; length?: number; version?: number } = {},
): Promise<{ file: File; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let file: File | undefined;
    const stream = clients.chunker.downloadFile(
      { fileId, offset: range.offset ?? 0, length: range.length ?? 0, version: range.version ?? 0 },
      auth(token),
    );
    stream.on("data", (m: DownloadFileResponse) => {
      if (m.payload?.$case === "file") file = m.payload.value;
      else if (m.payload?.$case === "data") parts.push(m.payload.value);
    });
    stream.on("error", reject);
    stream.on("end", () => (file ? resolve({ file, data: Buffer.concat(parts) }) : reject(new Error("no file message"))));
  });
}

/** Expects a promise to fail with a gRPC status code. */
export async function expectStatus(promise: Promise<unknown>, code: grpc.status): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code !== code) {
      throw new Error(`expected ${grpc.status[code]} but got ${grpc.status[e.code] ?? e.code}: ${e.details ?? e.message}`, { cause: err });
    }
    return e;
  }
  throw new Error(`expected ${grpc.status[code]} but the call succeeded`);
}
