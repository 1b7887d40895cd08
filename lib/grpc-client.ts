import * as grpc from "@grpc/grpc-js";
import { fromGrpcError } from "./errors.js";

/** Channel options for calls to cfs services from our clients (CLI, edge, tests). */
export function channelOptions(maxMessageBytes: number, flowControlWindowBytes: number): grpc.ChannelOptions {
  return {
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.max_send_message_length": maxMessageBytes,
    "grpc-node.flow_control_window": flowControlWindowBytes,
    "grpc.keepalive_time_ms": 60_000,
    // A peer that restarts is back within seconds; grpc-js's default backoff
    // (growing to 120 s) would keep failing calls to it long after that.
    "grpc.initial_reconnect_backoff_ms": 250,
    "grpc.max_reconnect_backoff_ms": 2_000,
  };
}

/**
 * Every address a target resolves to gets calls in turn (a Kubernetes
 * headless Service lists each pod; `ipv4:a:p,b:p` names several), instead of
 * grpc-js's default pick_first, which sends everything to one replica.
 */
export const ROUND_ROBIN_SERVICE_CONFIG = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/**
 * Channel options for calls between cfs services: as channelOptions, balanced
 * over every replica. round_robin reconnects to a lost replica eagerly, and
 * fails calls at once while none is connected, so these calls go with
 * peerCallMetadata (waitForReady).
 */
export function peerChannelOptions(maxMessageBytes: number, flowControlWindowBytes: number): grpc.ChannelOptions {
  return {
    ...channelOptions(maxMessageBytes, flowControlWindowBytes),
    "grpc.service_config": ROUND_ROBIN_SERVICE_CONFIG,
    // Each channel its own connections: a new client of a restarted peer
    // connects now instead of sharing the backoff of an older channel's.
    "grpc.use_local_subchannel_pool": 1,
  };
}

/** Who a downstream call acts for: a bearer token plus the request id to propagate. */
export interface CallIdentity {
  token: string;
  requestId?: string;
  deadline?: Date;
  /** Aborted when the caller's own call is cancelled: work for it stops before it becomes visible. */
  signal?: AbortSignal;
}

/**
 * A service's own identity for its background work: a fresh token and
 * request id each time. Calls made with it are cancelled when `signal`
 * aborts, so a stopping loop does not wait out the deadline of a call to a
 * peer that is gone (they wait for it: peerCallMetadata).
 */
export type ServiceIdentity = (signal?: AbortSignal) => Promise<CallIdentity>;

export function callMetadata(identity: CallIdentity): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${identity.token}`);
  if (identity.requestId) metadata.set("x-request-id", identity.requestId);
  return metadata;
}

/**
 * The metadata of a call from one cfs service to another: as callMetadata,
 * with waitForReady, so a call to a peer that is restarting (or whose
 * replicas are all reconnecting) waits for it within its deadline instead of
 * failing at once.
 */
export function peerCallMetadata(identity: CallIdentity): grpc.Metadata {
  const metadata = callMetadata(identity);
  metadata.setOptions({ waitForReady: true });
  return metadata;
}

/** Unary calls between services never wait longer than this. */
export const UNARY_TIMEOUT_MS = 30_000;

/** The caller's deadline, but never later than capMs from now. */
export function boundedDeadline(identity: CallIdentity, capMs: number): Date {
  const cap = Date.now() + capMs;
  return identity.deadline && identity.deadline.getTime() < cap ? identity.deadline : new Date(cap);
}

export function unaryDeadline(identity: CallIdentity): Date {
  return boundedDeadline(identity, UNARY_TIMEOUT_MS);
}


/**
 * Cancels a downstream call when the caller's own call ends early (its
 * client left, its deadline passed), so no work continues for nobody.
 * Returns the function that stops watching, for when the call is over.
 */
export function cancelOnAbort(call: { cancel(): void }, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => undefined;
  const onAbort = () => call.cancel();
  if (signal.aborted) {
    onAbort();
    return () => undefined;
  }
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
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
 * identity and a bounded deadline; failures become domain errors. The call
 * is cancelled when the identity's signal aborts, and the promise rejects
 * with its reason.
 */
export function callUnary<Q, R>(method: UnaryMethod<Q, R>, request: Q, identity: CallIdentity, what: string): Promise<R> {
  const { signal } = identity;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    let stopWatching = () => undefined as void;
    const call = method(request, peerCallMetadata(identity), { deadline: unaryDeadline(identity) }, (err, response) => {
      stopWatching();
      if (!err) resolve(response);
      else reject(signal?.aborted ? signal.reason : fromGrpcError(err, what));
    });
    stopWatching = cancelOnAbort(call, signal);
  });
}

/** Resolves once the client's channel is connected (a health-check probe). */
export function waitForReady(client: grpc.Client, timeoutMs = 2_000): Promise<void> {
  return new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(new Error(`not connected: ${err.message}`)) : resolve())),
  );
}
