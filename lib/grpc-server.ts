import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { loadFileDescriptorSetFromBuffer, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type { Logger } from "pino";
import { logRpc } from "./access-log.js";
import type { Principal, TokenVerifier } from "./auth.js";
import { authenticateCall } from "./call-auth.js";
import { startCallLifetime, untilAborted, type CallCaps } from "./call-lifetime.js";
import { toGrpcError } from "./errors.js";
import type { Health } from "./health.js";
import type { Metrics } from "./metrics.js";
import { decoded, decodedEach, tolerateUndecodable } from "./request-decoding.js";
import { readRequests, RequestSizes, type RequestStreamGuard } from "./request-stream.js";
import { requestIdOf } from "./request-id.js";
import { writeResponses } from "./response-stream.js";
import { countMessageBytes, countRpc, methodName } from "./rpc-metrics.js";
import type { StreamLimits } from "./stream-guard.js";

/** What a handler knows about the call it serves. */
export interface RequestContext {
  readonly principal: Principal;
  /** The caller's bearer token, forwarded on calls to other cfs services. */
  readonly token: string;
  readonly requestId: string;
  readonly log: Logger;
  /**
   * When the call must be over: the client's deadline, or the server's cap
   * when the client set none or a later one. Downstream calls inherit it.
   */
  readonly deadline: Date;
  /** Aborted when the client cancels or disconnects, or the deadline passes; the reason is the error the call ends with. */
  readonly signal: AbortSignal;
  /**
   * Sends response headers (gRPC initial metadata) before the first message:
   * what a REST gateway turns into HTTP headers (Content-Disposition of a
   * download). ASCII values only; once per call, before anything is sent.
   */
  sendHeaders(headers: Readonly<Record<string, string>>): void;
  /**
   * The HTTP method of the REST request a gateway transcoded into this call
   * (`x-envoy-original-method`, which Envoy's transcoder sets and the edge
   * sets too); undefined for a plain gRPC call. It only shapes the answer
   * (a HEAD gets no body), never who may do what.
   */
  readonly transcodedMethod: string | undefined;
}

interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: never) => Buffer;
  requestDeserialize: (bytes: Buffer) => unknown;
  responseSerialize: (value: never) => Buffer;
  responseDeserialize: (bytes: Buffer) => unknown;
}

type ServiceDefinition = Record<string, MethodDefinition>;
type Req<M> = M extends { requestDeserialize: (b: Buffer) => infer Q } ? Q : never;
type Res<M> = M extends { responseDeserialize: (b: Buffer) => infer R } ? R : never;

/**
 * Promise-based handlers for a ts-proto service definition: unary calls
 * return the response, client streams consume an async iterable, server
 * streams are async generators (each yield waits for the client to drain).
 */
export type ServiceHandlers<D> = {
  [K in keyof D]: D[K] extends { requestStream: true; responseStream: false }
    ? (requests: AsyncIterable<Req<D[K]>>, ctx: RequestContext) => Promise<Res<D[K]>>
    : D[K] extends { requestStream: false; responseStream: true }
      ? (request: Req<D[K]>, ctx: RequestContext) => AsyncIterable<Res<D[K]>>
      : D[K] extends { requestStream: false; responseStream: false }
        ? (request: Req<D[K]>, ctx: RequestContext) => Promise<Res<D[K]>>
        : never;
};

export interface ServiceRegistration<D> {
  /** Fully-qualified name, e.g. cfs.chunker.v1.ChunkerService (health uses it). */
  name: string;
  definition: D;
  handlers: ServiceHandlers<D>;
}

/** Registers a typed service (keeps D inferred per service in a list). */
export function service<D>(name: string, definition: D, handlers: ServiceHandlers<D>): ServiceRegistration<D> {
  return { name, definition, handlers };
}

export interface GrpcServerOptions {
  log: Logger;
  metrics: Metrics;
  health: Health;
  verifyToken: TokenVerifier;
  /** Largest message accepted (between services: one whole chunk plus framing). */
  maxReceiveMessageBytes: number;
  /** HTTP/2 stream and connection receive window. */
  flowControlWindowBytes: number;
  /** The longest a call may run, whatever deadline its client set. */
  callCaps: CallCaps;
  /** How slow the request stream of a client-streaming call (an upload) may be. */
  requestStreamLimits: StreamLimits;
  /**
   * A connection older than this is asked to go away (GOAWAY; calls in flight
   * finish), so clients resolve the name again and spread over new replicas.
   */
  maxConnectionAgeMs: number;
}

/**
 * Built by `make gen` (buf build): every cfs proto with its imports,
 * well-known types included, plus grpc/health/v1/health.proto.
 */
const DESCRIPTOR_SET = fileURLToPath(new URL("../gen/descriptor-set.binpb", import.meta.url));

/**
 * A grpc-js server with the steps of serveCall around every handler (request
 * id, deadline cap and cancellation, auth, error mapping, metrics, access
 * log), plus grpc.health.v1 and server reflection.
 */
export function createGrpcServer(services: readonly ServiceRegistration<unknown>[], options: GrpcServerOptions): grpc.Server {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxReceiveMessageBytes,
    "grpc.max_send_message_length": options.maxReceiveMessageBytes,
    // No grace limit: an upload stream in flight on an old connection may finish.
    "grpc.max_connection_age_ms": options.maxConnectionAgeMs,
  });
  raiseServerFlowControlWindow(server, options.flowControlWindowBytes, options.log);
  const sizes = new RequestSizes();
  const guard: RequestStreamGuard<unknown> = { limits: options.requestStreamLimits, sizeOf: sizes.sizeOf };
  for (const { definition, handlers } of services) {
    const def = definition as ServiceDefinition;
    const wrapped: grpc.UntypedServiceImplementation = {};
    const instrumented: ServiceDefinition = {};
    for (const [key, method] of Object.entries(def)) {
      const counted = countMessageBytes(tolerateUndecodable(method), methodName(method.path), options.metrics);
      instrumented[key] = method.requestStream ? sizes.measure(counted) : counted;
      wrapped[key] = wrapHandler(method, (handlers as Record<string, Handler>)[key]!, options, guard);
    }
    server.addService(instrumented as unknown as grpc.ServiceDefinition, wrapped);
  }
  options.health.addToServer(server);
  new ReflectionService(reflectionPackage(), {
    services: [...services.map((s) => s.name), "grpc.health.v1.Health"],
  }).addToServer(server);
  return server;
}

/**
 * The package definition that server reflection describes. @grpc/reflection
 * serves the files it finds in `fileDescriptorProtos`, and those that
 * proto-loader produces are re-encoded by protobufjs, which drops
 * google/protobuf/timestamp.proto (grpc-node#2958) and mangles oneofs and map
 * entries, so grpcurl rejects them. We put buf's original bytes of every file
 * first (the first copy of a file name wins).
 */
function reflectionPackage(): PackageDefinition {
  const bytes = readFileSync(DESCRIPTOR_SET);
  const files: Buffer[] = [];
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  const allFiles = { format: "Protocol Buffer 3 DescriptorProto", type: {}, fileDescriptorProtos: files };
  return {
    "cfs.reflection.AllFiles": allFiles as unknown as PackageDefinition[string],
    ...loadFileDescriptorSetFromBuffer(bytes),
  };
}

/** Binds host:port (0 picks a free port) and returns the bound port. */
export function bindServer(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
}

/**
 * grpc-js keeps the server's HTTP/2 receive window at Node's 64 KiB default
 * (its flow-control option is client-only; grpc-node PR #3058 is not
 * released), which caps each upload stream at 64 KiB per round trip. We set
 * the initial stream window in the settings it passes to http2.createServer
 * and raise each session's connection window as it opens.
 */
function raiseServerFlowControlWindow(server: grpc.Server, windowBytes: number, log: Logger): void {
  const internals = server as unknown as {
    commonServerOptions?: { settings?: Record<string, unknown> };
    http2Servers?: Map<{ on: (event: string, fn: (session: { setLocalWindowSize(n: number): void }) => void) => void }, unknown>;
  };
  if (!internals.commonServerOptions || !(internals.http2Servers instanceof Map)) {
    log.warn("grpc-js internals changed: server flow-control window left at its default");
    return;
  }
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: windowBytes };
  const seen = new WeakSet<object>();
  const originalSet = internals.http2Servers.set.bind(internals.http2Servers);
  internals.http2Servers.set = (http2Server, info) => {
    if (!seen.has(http2Server)) {
      seen.add(http2Server);
      http2Server.on("session", (session) => session.setLocalWindowSize(windowBytes));
    }
    return originalSet(http2Server, info);
  };
}

type Handler = (input: unknown, ctx: RequestContext) => unknown;
type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

/** The kind of call; streams get the longer cap. */
function capFor(method: MethodDefinition, caps: CallCaps): number {
  return method.requestStream || method.responseStream ? caps.streamMs : caps.unaryMs;
}

/**
 * The steps around every call, in order: request id, the call's lifetime
 * (deadline cap, cancellation), authentication, the handler, then error
 * mapping (with the cause logged), metrics and the access-log line. `body`
 * runs the handler and sends the answer; `answerError` sends a failure.
 */
async function serveCall(
  call: AnyCall,
  method: string,
  capMs: number,
  options: GrpcServerOptions,
  body: (ctx: RequestContext) => Promise<void>,
  answerError: (status: grpc.StatusObject) => void,
): Promise<void> {
  const started = process.hrtime.bigint();
  const requestId = requestIdOf(call.metadata);
  let log = options.log.child({ requestId, method });
  const lifetime = startCallLifetime(call, capMs);
  let code = grpc.status.OK;
  try {
    const { principal, token } = await untilAborted(authenticateCall(call.metadata, options.verifyToken), lifetime.signal);
    log = log.child({ subject: principal.subject });
    const sendHeaders = (headers: Readonly<Record<string, string>>) => {
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
      call.sendMetadata(metadata);
    };
    const transcodedMethod = transcodedMethodOf(call.metadata);
    await body({ principal, token, requestId, log, deadline: lifetime.deadline, signal: lifetime.signal, sendHeaders, transcodedMethod });
  } catch (err) {
    const status = toGrpcError(lifetime.signal.aborted ? lifetime.signal.reason : err, log);
    code = status.code;
    if (!lifetime.clientGone) answerError({ code: status.code, details: status.details, metadata: new grpc.Metadata() });
  } finally {
    lifetime.end();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    countRpc(options.metrics, method, code, seconds);
    logRpc(log, code, seconds);
  }
}

/** Adapts a promise-based handler to grpc-js's call shapes, with serveCall around it. */
function wrapHandler(method: MethodDefinition, handler: Handler, options: GrpcServerOptions, guard: RequestStreamGuard<unknown>): grpc.UntypedHandleCall {
  const name = methodName(method.path);
  const capMs = capFor(method, options.callCaps);

  if (method.requestStream && !method.responseStream) {
    return (call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      void serveCall(
        call,
        name,
        capMs,
        options,
        async (ctx) => callback(null, await untilAborted(Promise.resolve(handler(decodedEach(readRequests(call, ctx.signal, guard)), ctx)), ctx.signal)),
        (status) => callback(status, null),
      );
    };
  }
  if (method.responseStream && !method.requestStream) {
    return (call: grpc.ServerWritableStream<unknown, unknown>) => {
      void serveCall(
        call,
        name,
        capMs,
        options,
        async (ctx) => {
          await writeResponses(call, handler(decoded(call.request), ctx) as AsyncIterable<unknown>, ctx.signal);
          call.end();
        },
        (status) => call.emit("error", status),
      );
    };
  }
  if (!method.requestStream && !method.responseStream) {
    return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      void serveCall(
        call,
        name,
        capMs,
        options,
        async (ctx) => callback(null, await untilAborted(Promise.resolve(handler(decoded(call.request), ctx)), ctx.signal)),
        (status) => callback(status, null),
      );
    };
  }
  throw new Error(`${method.path}: bidirectional streaming is not supported`);
}

/**
 * The method a gateway's transcoder recorded. Envoy appends its own
 * `x-envoy-original-method` after any copy the client sent, so the last
 * value is the gateway's.
 */
function transcodedMethodOf(metadata: grpc.Metadata): string | undefined {
  const last = metadata.get("x-envoy-original-method").at(-1);
  return typeof last === "string" ? last : undefined;
}
