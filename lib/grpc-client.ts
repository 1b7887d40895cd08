import * as grpc from "@grpc/grpc-js";
import { fromGrpcError } from "./errors.js";

/** Channel options for calls between cfs services and from our clients. */
export function channelOptions(maxMessageBytes: number, flowControlWindowBytes: number): grpc.ChannelOptions {
  return {
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.max_send_message_length": maxMessageBytes,
    "grpc-node.flow_control_window": flowControlWindowBytes,
    "grpc.keepalive_time_ms": 60_000,
  };
}

/** Who a downstream call acts for: a bearer token plus the request id to propagate. */
export interface CallIdentity {
  token: string;
  requestId?: string;
  deadline?: Date;
}

export function callMetadata(identity: CallIdentity): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${identity.token}`);
  if (identity.requestId) metadata.set("x-request-id", identity.requestId);
  return metadata;
}

/** Unary calls between services never wait longer than this. */
export const UNARY_TIMEOUT_MS = 30_000;

export function unaryDeadline(identity: CallIdentity): Date {
  const cap = Date.now() + UNARY_TIMEOUT_MS;
  return identity.deadline && identity.deadline.getTime() < cap ? identity.deadline : new Date(cap);
}

/** A unary method of a generated grpc-js client. */
export type UnaryMethod<Q, R> = (
  request: Q,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: R) => void,
) => grpc.ClientUnaryCall;

/**
 * Calls a unary method of a ts-proto client as a promise, with the caller's
 * identity and a bounded deadline; failures become domain errors.
 */
export function callUnary<Q, R>(method: UnaryMethod<Q, R>, request: Q, identity: CallIdentity, what: string): Promise<R> {
  return new Promise((resolve, reject) => {
    method(request, callMetadata(identity), { deadline: unaryDeadline(identity) }, (err, response) =>
      err ? reject(fromGrpcError(err, what)) : resolve(response),
    );
  });
}

/** Resolves once the client's channel is connected (a health-check probe). */
export function waitForReady(client: grpc.Client, timeoutMs = 2_000): Promise<void> {
  return new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(new Error(`not connected: ${err.message}`)) : resolve())),
  );
}
