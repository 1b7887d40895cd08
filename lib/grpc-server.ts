import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { loadFileDescriptorSetFromBuffer, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type { Logger } from "pino";
import { bearerToken, type Principal, type TokenVerifier } from "./auth.js";
import { cancelled, toGrpcError } from "./errors.js";
import type { Health } from "./health.js";
import type { Metrics } from "./metrics.js";

/** What a handler knows about the call it serves. */
export interface RequestContext {
  readonly principal: Principal;
  /** The caller's bearer token, forwarded on calls to other cfs services. */
  readonly token: string;
  readonly requestId: string;
  readonly log: Logger;
  /** The client's deadline, if it set one. */
  readonly deadline: Date | undefined;
  /** Aborted when the client cancels or disconnects. */
  readonly signal: AbortSignal;
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
}

/**
 * Built by `make gen` (buf build): every cfs proto with its imports,
 * well-known types included, plus grpc/health/v1/health.proto.
 */
const DESCRIPTOR_SET = fileURLToPath(new URL("../gen/descriptor-set.binpb", import.meta.url));
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * A grpc-js server with auth, request ids, access logs, metrics and error
 * mapping around every handler, plus grpc.health.v1 and server reflection.
 */
export function createGrpcServer(services: readonly ServiceRegistration<unknown>[], options: GrpcServerOptions): grpc.Server {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxReceiveMessageBytes,
    "grpc.max_send_message_length": options.maxReceiveMessageBytes,
  });
  raiseServerFlowControlWindow(server, options.flowControlWindowBytes, options.log);
  for (const { definition, handlers } of services) {
    const def = definition as ServiceDefinition;
    const wrapped: grpc.UntypedServiceImplementation = {};
    const instrumented: ServiceDefinition = {};
    for (const [key, method] of Object.entries(def)) {
      instrumented[key] = instrumentMethod(method, options.metrics);
      wrapped[key] = wrapHandler(method, (handlers as Record<string, Handler>)[key]!, options);
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

function instrumentMethod(method: MethodDefinition, metrics: Metrics): MethodDefinition {
  const label = { method: methodName(method.path) };
  return {
    ...method,
    requestDeserialize: (bytes) => {
      metrics.bytesReceived.inc(label, bytes.length);
      return method.requestDeserialize(bytes);
    },
    responseSerialize: (value) => {
      const bytes = method.responseSerialize(value);
      metrics.bytesSent.inc(label, bytes.length);
      return bytes;
    },
  };
}

/** "/cfs.chunker.v1.ChunkerService/UploadFile" -> "ChunkerService/UploadFile" */
function methodName(path: string): string {
  const [service = "", method = ""] = path.slice(1).split("/");
  return `${service.slice(service.lastIndexOf(".") + 1)}/${method}`;
}

type Handler = (input: unknown, ctx: RequestContext) => unknown;
type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

function wrapHandler(method: MethodDefinition, handler: Handler, options: GrpcServerOptions): grpc.UntypedHandleCall {
  const name = methodName(method.path);

  /** Authenticates, runs `body`, then logs and counts the outcome. */
  const run = async (call: AnyCall, body: (ctx: RequestContext) => Promise<void>, fail: (e: grpc.StatusObject) => void) => {
    const started = process.hrtime.bigint();
    const headerId = call.metadata.get("x-request-id")[0];
    const requestId = typeof headerId === "string" && REQUEST_ID.test(headerId) ? headerId : randomUUID();
    let log = options.log.child({ requestId, method: name });
    const abort = new AbortController();
    (call as NodeJS.EventEmitter).on("cancelled", () => abort.abort(cancelled("call cancelled by the client")));
    let code = grpc.status.OK;
    try {
      const auth = call.metadata.get("authorization")[0];
      const token = bearerToken(typeof auth === "string" ? auth : undefined);
      const principal = await options.verifyToken(token);
      log = log.child({ subject: principal.subject });
      const deadline = call.getDeadline();
      await body({
        principal,
        token,
        requestId,
        log,
        deadline: deadline instanceof Date ? deadline : undefined,
        signal: abort.signal,
      });
    } catch (err) {
      const mapped = toGrpcError(abort.signal.aborted ? abort.signal.reason : err, log);
      code = mapped.code;
      if (!abort.signal.aborted) fail({ code: mapped.code, details: mapped.details, metadata: new grpc.Metadata() });
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      options.metrics.rpcsHandled.inc({ method: name, code: grpc.status[code] });
      options.metrics.rpcDuration.observe({ method: name }, seconds);
      log.info({ code: grpc.status[code], ms: Math.round(seconds * 1000) }, "rpc");
    }
  };

  if (method.requestStream && !method.responseStream) {
    return (call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      void run(
        call,
        async (ctx) => callback(null, await handler(readRequests(call, ctx.signal), ctx)),
        (status) => callback(status, null),
      );
    };
  }
  if (method.responseStream && !method.requestStream) {
    return (call: grpc.ServerWritableStream<unknown, unknown>) => {
      void run(
        call,
        async (ctx) => {
          for await (const message of handler(call.request, ctx) as AsyncIterable<unknown>) {
            if (ctx.signal.aborted) return;
            if (!call.write(message)) {
              await Promise.race([once(call, "drain"), once(ctx.signal as unknown as NodeJS.EventEmitter, "abort").catch(() => undefined)]);
            }
          }
          call.end();
        },
        (status) => call.emit("error", status),
      );
    };
  }
  if (!method.requestStream && !method.responseStream) {
    return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      void run(
        call,
        async (ctx) => callback(null, await handler(call.request, ctx)),
        (status) => callback(status, null),
      );
    };
  }
  throw new Error(`${method.path}: bidirectional streaming is not supported`);
}

/**
 * The request stream of a client-streaming call. A stream that ends because
 * the client went away must never look like a complete upload, so
 * cancellation surfaces as an error instead of a normal end.
 */
async function* readRequests(call: grpc.ServerReadableStream<unknown, unknown>, signal: AbortSignal): AsyncGenerator<unknown> {
  const onAbort = () => call.destroy(signal.reason as Error);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const message of call) yield message;
    if (signal.aborted || call.cancelled) throw cancelled("call cancelled by the client");
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
