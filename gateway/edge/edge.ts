import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, protoInt64, ScalarType, toBinary, toJson, type DescMessage, type JsonObject, type JsonValue, type Message, type Registry } from "@bufbuild/protobuf";
import { bearerToken, createTokenVerifier, type AuthConfig } from "#lib/auth.js";
import { isServiceError } from "#lib/errors.js";
import { channelOptions } from "#lib/grpc-client.js";
import type { Logger } from "#lib/logger.js";
import type { StreamLimits } from "#lib/stream-guard.js";
import { guardBody } from "./body-guard.js";
import { isDavPath, proxyDav, type DavRoute } from "./dav-proxy.js";
import { HTTP_BODY, loadHttpRoutes, matchRoute, type HttpRoute } from "./routes.js";
import { createStaticHandler } from "./static.js";
import { badRequest, HttpError, httpStatusOf, requestMessage } from "./transcode.js";

/**
 * The single-machine stand-in for Envoy (gateway/envoy.yaml): the REST
 * routes of the `google.api.http` annotations transcoded to gRPC, the same
 * JWT rule (a valid token on every API route; the services verify it again),
 * CORS for the page's origins, and the web page itself.
 */
export interface EdgeOptions {
  host: string;
  port: number;
  registry: Registry;
  /** gRPC address per transcoded service, e.g. cfs.metadata.v1.MetadataService → 127.0.0.1:8000. */
  upstreams: Readonly<Record<string, string>>;
  auth: AuthConfig;
  /** Origins (scheme://host:port) whose pages may call the API. */
  corsOrigins: readonly string[];
  /** The built web page (web/dist); unset serves the API only. */
  webRoot?: string;
  /** Served as /config.json: how the page signs people in. */
  pageConfig: JsonObject;
  /** The OpenAPI document of the REST routes (gen/openapi.json), served at /v1/openapi.json. */
  openApiDocument?: string;
  /** How slow a request body may arrive (CFS_STREAM_*, as the services): a slower one is answered 408. */
  bodyLimits: StreamLimits;
  /** The longest a whole request may take to arrive (CFS_MAX_STREAM_SECONDS, as the services' stream cap). */
  maxRequestMs: number;
  /** WebDAV (e.g. /dav/) handed to the WebDAV service. */
  dav?: DavRoute;
  /** The services behind it that are not serving now; /healthz is 503 naming them (make run's supervision shows a restart here). */
  notServing?: () => Promise<readonly string[]>;
  log: Logger;
}

export interface RunningEdge {
  url: string;
  port: number;
  close(): Promise<void>;
}

const UNARY_DEADLINE_MS = 30_000;
const MAX_JSON_BODY_BYTES = 1024 * 1024;
/** Upload bytes are sent upstream in messages of about this size... */
const UPLOAD_FRAME_BYTES = 256 * 1024;
/** ...or after this long, so a slow client's bytes reach the service (whose own slow-client limits watch them) as they come. */
const UPLOAD_FLUSH_MS = 100;
/** A connection with no traffic either way for this long is closed (a download whose client stopped reading). */
const IDLE_TIMEOUT_MS = 5 * 60_000;
/**
 * Served without a token: it describes only the public routes (no user
 * data), and tools and clients read it before they have a token, as gRPC
 * clients read the services' reflection.
 */
export const OPENAPI_PATH = "/v1/openapi.json";

export async function startEdge(options: EdgeOptions): Promise<RunningEdge> {
  const routes = loadHttpRoutes(options.registry, Object.keys(options.upstreams));
  for (const route of routes) checkSupported(route);
  const httpBody = options.registry.getMessage(HTTP_BODY)!;
  const clients = new Map(
    Object.entries(options.upstreams).map(([name, address]) => [
      name,
      new grpc.Client(address, grpc.credentials.createInsecure(), channelOptions(4 * 1024 * 1024, 4 * 1024 * 1024)),
    ]),
  );
  const verify = createTokenVerifier(options.auth);
  const cors = new Set(options.corsOrigins);
  const serveStatic = createStaticHandler(options.webRoot, options.pageConfig);

  const health = async (res: ServerResponse): Promise<void> => {
    const down = (await options.notServing?.()) ?? [];
    if (down.length === 0) return void res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    res.writeHead(503, { "content-type": "text/plain" }).end(`not serving: ${down.join(", ")}\n`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://edge");
    // WebDAV clients authenticate with the WebDAV service themselves (Basic or bearer).
    if (options.dav && isDavPath(options.dav, url.pathname)) return proxyDav(options.dav, req, res, log);
    if (applyCors(req, res, cors)) return;
    if (url.pathname === "/healthz") return health(res);
    if (url.pathname === OPENAPI_PATH && options.openApiDocument !== undefined) return serveDocument(req, res, options.openApiDocument);
    if (!url.pathname.startsWith("/v1/") && url.pathname !== "/v1") {
      return serveStatic(req, res, url.pathname);
    }
    // HEAD is served where an annotation binds it, as by Envoy (Node sends no body for HEAD anyway).
    const match = matchRoute(routes, req.method ?? "", url.pathname);
    if ("allowed" in match) {
      if (match.allowed.length > 0) res.setHeader("allow", [...new Set(match.allowed)].join(", "));
      throw new HttpError(match.allowed.length > 0 ? 405 : 404, grpc.status.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
    }
    const token = await authenticate(req.headers.authorization, verify);
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    metadata.set("x-request-id", res.getHeader("x-request-id") as string);
    // As Envoy's transcoder tells the service: a HEAD's download leaves its bytes out.
    metadata.set("x-envoy-original-method", match.route.httpMethod);
    const call: UpstreamCall = { route: match.route, client: clients.get(match.route.method.parent.typeName)!, metadata, req, res, log };
    const { body, rawBodyField, method } = match.route;
    if (rawBodyField) {
      const first = requestMessage(method.input, match.variables, url.searchParams);
      declareBodyLength(first, method.input, req.headers["content-length"]);
      return uploadStream(call, first, rawBodyField.localName, httpBody, options.bodyLimits);
    }
    const jsonBody = body ? { field: body, value: await readJson(req, options.bodyLimits) } : undefined;
    const request = requestMessage(match.route.method.input, match.variables, url.searchParams, jsonBody);
    if (method.methodKind === "server_streaming") return responseStream(call, request);
    return unary(call, request);
  };

  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    const requestId = sanitizeRequestId(req.headers["x-request-id"]) ?? randomUUID();
    res.setHeader("x-request-id", requestId);
    const log = options.log.child({ requestId });
    res.on("close", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const path = (req.url ?? "").split("?")[0];
      log.info({ method: req.method, path, status: res.statusCode, ms: Math.round(ms), aborted: !res.writableFinished }, "http request");
    });
    handle(req, res, log).catch((err: unknown) => sendError(res, err, log));
  });
  // A client has 10 s for its headers (Node answers 408 and closes); a body
  // is watched by guardBody (408 when too slow or silent), and a whole
  // request may take as long as the services let a stream run.
  server.headersTimeout = 10_000;
  server.requestTimeout = options.maxRequestMs;
  server.timeout = IDLE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  options.log.info({ host: options.host, port, routes: routes.length }, "edge listening");
  return {
    url: `http://${options.host}:${port}`,
    port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      for (const client of clients.values()) client.close();
    },
  };
}

/** Fails at start-up on an annotation whose call shape the edge cannot serve. */
function checkSupported(route: HttpRoute): void {
  const { method } = route;
  const where = `${method.parent.typeName}.${method.name}`;
  if (method.methodKind === "bidi_streaming") throw new Error(`${where}: bidirectional streaming has no REST mapping in the edge`);
  // Raw bytes are streamed upstream, so they go with client-streamed calls and only those.
  if ((method.methodKind === "client_streaming") !== (route.rawBodyField !== undefined)) {
    throw new Error(`${where}: the edge maps a google.api.HttpBody body to a client-streamed call and nothing else`);
  }
}

interface UpstreamCall {
  route: HttpRoute;
  client: grpc.Client;
  metadata: grpc.Metadata;
  req: IncomingMessage;
  res: ServerResponse;
  log: Logger;
}

const serializer = (schema: DescMessage) => (message: Message) => Buffer.from(toBinary(schema, message));
const deserializer = (schema: DescMessage) => (bytes: Buffer) => fromBinary(schema, bytes);

async function unary(call: UpstreamCall, request: Message): Promise<void> {
  const { method } = call.route;
  const response = await new Promise<Message>((resolve, reject) => {
    const pending = call.client.makeUnaryRequest(
      call.route.grpcPath,
      serializer(method.input),
      deserializer(method.output),
      request,
      call.metadata,
      { deadline: Date.now() + UNARY_DEADLINE_MS },
      (err, value) => (err ? reject(err) : resolve(value!)),
    );
    cancelWhenClientLeaves(call.res, () => pending.cancel());
  });
  sendJson(call.res, 200, toJson(method.output, response, { alwaysEmitImplicit: true }));
}

/**
 * A raw-bytes upload: the request body goes upstream as it arrives, in
 * HttpBody messages of about UPLOAD_FRAME_BYTES, pausing the client while
 * the service is behind. The first message also carries the path and query
 * fields and the content type, as Envoy sends it.
 */
async function uploadStream(call: UpstreamCall, first: Message, bodyField: string, httpBody: DescMessage, limits: StreamLimits): Promise<void> {
  const { method } = call.route;
  const { req, res } = call;
  const contentType = req.headers["content-type"] ?? "";
  const response = await new Promise<Message>((resolve, reject) => {
    let failed = false;
    /** Nothing more of the body is forwarded; the connection closes after the error answer. */
    const stopForwarding = () => {
      failed = true;
      clearTimeout(flushTimer);
      stopGuard();
      req.off("data", forward);
      res.shouldKeepAlive = false;
    };
    const upstream = call.client.makeClientStreamRequest(
      call.route.grpcPath,
      serializer(method.input),
      deserializer(method.output),
      call.metadata,
      {},
      (err, value) => {
        if (!err) return resolve(value!);
        if (failed) return;
        // The rest of the body is not wanted: stop forwarding it and let it
        // drain (a paused request would hold the connection).
        stopForwarding();
        req.resume();
        // The service gave up waiting for a body the client is still
        // sending: the client was too slow, whichever side noticed first.
        if (err.code === grpc.status.DEADLINE_EXCEEDED && !req.complete) reject(requestTimeout(err.details));
        else reject(err);
      },
    );
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let sentFirst = false;
    let flushTimer: NodeJS.Timeout | undefined;
    const flush = (): boolean => {
      clearTimeout(flushTimer);
      flushTimer = undefined;
      const data = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      const message = sentFirst ? create(method.input) : first;
      (message as unknown as Record<string, unknown>)[bodyField] = create(httpBody, sentFirst ? { data } : { contentType, data });
      sentFirst = true;
      return upstream.write(message);
    };
    const flushWithBackpressure = () => {
      if (!flush()) {
        req.pause();
        upstream.once("drain", () => req.resume());
      }
    };
    const forward = (part: Buffer) => {
      pending.push(part);
      pendingBytes += part.length;
      if (pendingBytes >= UPLOAD_FRAME_BYTES) flushWithBackpressure();
      else flushTimer ??= setTimeout(flushWithBackpressure, UPLOAD_FLUSH_MS);
    };
    // A client too slow or silent gets 408 and its connection closed; the
    // upload is cancelled, so nothing is committed.
    const stopGuard = guardBody(req, limits, (slow) => {
      stopForwarding();
      upstream.cancel();
      reject(requestTimeout(slow.message));
    });
    req.on("data", forward);
    req.on("end", () => {
      if (failed) return;
      if (pendingBytes > 0 || !sentFirst) flush();
      upstream.end();
    });
    // A client that goes away mid-upload cancels the call: the chunker then
    // commits nothing and releases what it stored.
    req.on("close", () => {
      clearTimeout(flushTimer);
      if (!req.complete) upstream.cancel();
    });
    cancelWhenClientLeaves(res, () => upstream.cancel());
  });
  sendJson(res, 200, toJson(method.output, response, { alwaysEmitImplicit: true }));
}

const requestTimeout = (message: string) => new HttpError(408, grpc.status.DEADLINE_EXCEEDED, `request body too slow: ${message}`);

/**
 * Envoy resets the upstream stream when a client goes away mid-body; grpc-js,
 * which the edge calls with, may half-close it first, so the upload would
 * look complete. Where the request message has an unset `size`, the length
 * the client announced goes there, and a body cut short fails the upload.
 */
function declareBodyLength(first: Message, schema: DescMessage, contentLength: string | undefined): void {
  const size = schema.fields.find((f) => f.name === "size" && f.fieldKind === "scalar" && f.scalar === ScalarType.INT64);
  const message = first as unknown as Record<string, unknown>;
  if (!size || contentLength === undefined || !/^\d+$/.test(contentLength) || message[size.localName] !== undefined) return;
  message[size.localName] = protoInt64.parse(contentLength);
}

/**
 * A server stream: google.api.HttpBody messages become the raw response body
 * (the first one's content type is the response's), anything else a JSON
 * array written as messages arrive. Nothing is sent before the first message,
 * so an error before it is a plain HTTP error status.
 */
async function responseStream(call: UpstreamCall, request: Message): Promise<void> {
  const { method } = call.route;
  const { res } = call;
  const raw = method.output.typeName === HTTP_BODY;
  const upstream = call.client.makeServerStreamRequest(call.route.grpcPath, serializer(method.input), deserializer(method.output), request, call.metadata, {});
  cancelWhenClientLeaves(res, () => upstream.cancel());
  // What the service says of a raw download before its bytes: its name and length.
  const headers: Record<string, string> = {};
  upstream.on("metadata", (metadata: grpc.Metadata) => {
    if (!raw) return;
    const disposition = metadata.get("content-disposition")[0];
    const length = metadata.get("x-cfs-content-length")[0];
    if (typeof disposition === "string" && /^[\x20-\x7e]+$/.test(disposition)) headers["content-disposition"] = disposition;
    if (typeof length === "string" && /^\d+$/.test(length)) headers["content-length"] = length;
  });
  res.on("drain", () => upstream.resume());
  await new Promise<void>((resolve, reject) => {
    let started = false;
    /** Set once the response is settled by an error. */
    let settled = false;
    upstream.on("data", (message: Message) => {
      const fields = message as unknown as { contentType: string; data: Uint8Array };
      if (!started) {
        started = true;
        res.writeHead(200, { ...headers, "content-type": raw ? contentTypeHeader(fields.contentType) : "application/json", "cache-control": "no-store" });
        if (!raw) res.write("[");
      } else if (!raw) {
        res.write(",");
      }
      const more = raw ? res.write(fields.data) : res.write(JSON.stringify(toJson(method.output, message, { alwaysEmitImplicit: true })));
      if (!more) upstream.pause();
    });
    upstream.on("error", (err) => {
      // grpc-js ends the stream too after a failed status: only this handler answers.
      if (settled) return;
      settled = true;
      if (!started) return reject(err);
      // The status line is gone: all that is left is to cut the body short.
      // (A client that left was cancelled by us: nothing went wrong.)
      if (!res.destroyed) call.log.warn({ err }, "stream failed after the response started");
      res.destroy();
      resolve();
    });
    upstream.on("end", () => {
      if (settled) return;
      if (!started) res.writeHead(200, { ...headers, "content-type": raw ? "application/octet-stream" : "application/json" });
      res.end(raw ? undefined : started ? "]" : "[]");
      resolve();
    });
  });
}

/**
 * A stored content type as a header value. Any gRPC client can store one
 * with characters Node refuses in a header (beyond Latin-1); writeHead would
 * throw inside the stream's data handler and take the edge down.
 */
function contentTypeHeader(contentType: string): string {
  return contentType && /^[\t\x20-\x7e\x80-\xff]+$/.test(contentType) ? contentType : "application/octet-stream";
}

function cancelWhenClientLeaves(res: ServerResponse, cancel: () => void): void {
  res.on("close", () => {
    if (!res.writableFinished) cancel();
  });
}

async function authenticate(header: string | undefined, verify: ReturnType<typeof createTokenVerifier>): Promise<string> {
  try {
    const token = bearerToken(header);
    await verify(token);
    return token;
  } catch (err) {
    throw new HttpError(401, grpc.status.UNAUTHENTICATED, (err as Error).message);
  }
}

function readJson(req: IncomingMessage, limits: StreamLimits): Promise<JsonValue> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const fail = (err: HttpError) => {
      stopGuard();
      req.off("data", collect);
      req.resume();
      reject(err);
    };
    const stopGuard = guardBody(req, limits, (slow) => {
      req.off("data", collect);
      reject(requestTimeout(slow.message));
    });
    const collect = (part: Buffer) => {
      size += part.length;
      if (size > MAX_JSON_BODY_BYTES) return fail(new HttpError(413, grpc.status.RESOURCE_EXHAUSTED, `request body over ${MAX_JSON_BODY_BYTES} bytes`));
      parts.push(part);
    };
    req.on("data", collect);
    req.on("error", (err) => reject(err));
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString("utf8")) as JsonValue);
      } catch {
        reject(badRequest("the request body is not valid JSON"));
      }
    });
  });
}

/**
 * CORS for the configured origins. Returns true when the request was a
 * preflight and has been answered (preflights carry no token).
 */
function applyCors(req: IncomingMessage, res: ServerResponse, allowed: ReadonlySet<string>): boolean {
  const origin = req.headers.origin;
  const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
  if (origin) res.setHeader("vary", "Origin");
  if (!origin || !allowed.has(origin)) {
    if (preflight) res.writeHead(403).end();
    return preflight;
  }
  res.setHeader("access-control-allow-origin", origin);
  res.setHeader("access-control-expose-headers", "x-request-id, content-type, content-length, content-disposition");
  if (!preflight) return false;
  res.writeHead(204, {
    "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
    "access-control-allow-headers": "authorization, content-type, x-request-id",
    "access-control-max-age": "600",
  });
  res.end();
  return true;
}

function serveDocument(req: IncomingMessage, res: ServerResponse, document: string): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    throw new HttpError(405, grpc.status.NOT_FOUND, `no route for ${req.method} ${OPENAPI_PATH}`);
  }
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(document), "cache-control": "no-cache" });
  res.end(req.method === "HEAD" ? undefined : document);
}

function sendJson(res: ServerResponse, status: number, body: JsonValue): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}

/** Errors as google.rpc.Status JSON with the HTTP status Envoy's convert_grpc_status gives. */
function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  let httpStatus: number;
  let code: number;
  let message: string;
  if (err instanceof HttpError) {
    [httpStatus, code, message] = [err.httpStatus, err.grpcCode, err.message];
  } else if (isServiceError(err)) {
    [httpStatus, code, message] = [httpStatusOf(err.code), err.code, err.details];
  } else {
    log.error({ err }, "edge request failed");
    [httpStatus, code, message] = [500, grpc.status.INTERNAL, "internal error"];
  }
  if (res.headersSent) return void res.destroy();
  // A request too slow to arrive is not read any further: close the connection after the answer.
  if (httpStatus === 408) res.shouldKeepAlive = false;
  if (httpStatus === 401) res.setHeader("www-authenticate", 'Bearer realm="cfs"');
  sendJson(res, httpStatus, { code, message, details: [] });
}

function sanitizeRequestId(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" && /^[A-Za-z0-9._-]{1,128}$/.test(value) ? value : undefined;
}
