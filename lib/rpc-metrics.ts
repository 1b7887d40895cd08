import { status as GrpcStatus } from "@grpc/grpc-js";
import type { Metrics } from "./metrics.js";

/** The (de)serializers of one method of a ts-proto service definition. */
export interface MessageCodec {
  requestDeserialize: (bytes: Buffer) => unknown;
  responseSerialize: (value: never) => Buffer;
}

/** "/cfs.chunker.v1.ChunkerService/UploadFile" → "ChunkerService/UploadFile", the `method` label and log field. */
export function methodName(path: string): string {
  const [service = "", method = ""] = path.slice(1).split("/");
  return `${service.slice(service.lastIndexOf(".") + 1)}/${method}`;
}

/**
 * The method's codec, counting serialized message bytes in and out
 * (cfs_grpc_server_received_bytes_total, cfs_grpc_server_sent_bytes_total).
 */
export function countMessageBytes<C extends MessageCodec>(codec: C, method: string, metrics: Metrics): C {
  const label = { method };
  return {
    ...codec,
    requestDeserialize: (bytes: Buffer) => {
      metrics.bytesReceived.inc(label, bytes.length);
      return codec.requestDeserialize(bytes);
    },
    responseSerialize: (value: never) => {
      const bytes = codec.responseSerialize(value);
      metrics.bytesSent.inc(label, bytes.length);
      return bytes;
    },
  };
}

/** Counts a finished call by method and status (cfs_grpc_server_handled_total) and observes its duration. */
export function countRpc(metrics: Metrics, method: string, code: GrpcStatus, seconds: number): void {
  metrics.rpcsHandled.inc({ method, code: GrpcStatus[code] });
  metrics.rpcDuration.observe({ method }, seconds);
}
