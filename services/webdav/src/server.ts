import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { CfsError } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { Logger } from "#lib/logger.js";
import type { DavLock, DavStateStore } from "./ports/dav-state.js";
import type { FileCatalogue, FileContent } from "./ports/files.js";
import type { Authenticator } from "./domain/authenticator.js";
import { evaluateIf, parseIfHeader, submittedTokens, type IfList } from "./domain/if-header.js";
import { lockTimeout, locksBearingOn, tokensCovering, unsatisfied, type WriteScope } from "./domain/locking.js";
import { isUnder, memberPrefix, parentOf, type DavPaths } from "./domain/paths.js";
import { activeLock, isProtected, multistatus, parsePropertyUpdate, parsePropfind, propfindResponse, responseXml, wantsQuota, type PropfindRequest } from "./domain/properties.js";
import { parseRange } from "./domain/range.js";
import { etagOf, Resources, type Resource } from "./domain/resources.js";
import { child, children, escapeXml, isDav, parseXml, serialize } from "./domain/xml.js";

/**
 * The WebDAV server (RFC 4918, class 1 and 2) over the cfs services: HTTP
 * in, calls to the chunker and metadata with the user's identity out. It
 * keeps no state of its own (folders, properties and locks live in the
 * metadata service), so any number of replicas can serve.
 */
export interface DavServerOptions {
  paths: DavPaths;
  files: FileCatalogue;
  content: FileContent;
  state: DavStateStore;
  authenticator: Authenticator;
  log: Logger;
  /** Counts each request by method and status. */
  observe?: (method: string, status: number, seconds: number) => void;
  lockTimeouts: { defaultSeconds: number; maxSeconds: number };
  /** Largest XML request body (PROPFIND, PROPPATCH, LOCK). */
  maxXmlBytes: number;
  /** Behind a gateway: the client is the last X-Forwarded-For entry (the one the gateway added). */
  trustForwardedFor: boolean;
}

const METHODS = ["OPTIONS", "GET", "HEAD", "PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK"];
const MAX_DELETES_AT_ONCE = 8;

/** An answer with a status (and an optional body) that ends the request. */
class DavError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** A DAV:error body (a precondition element, RFC 4918 16). */
    readonly condition?: string,
  ) {
    super(message);
  }
}

interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  as: CallIdentity;
  log: Logger;
}

export function createDavHandler(options: DavServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { paths, files, content, state, authenticator, log: baseLog } = options;
  const resources = new Resources(files, state);

  const handle = async (req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> => {
    const method = req.method ?? "";
    const url = new URL(req.url ?? "/", "http://dav");
    const path = paths.toPath(url.pathname);
    if (path === undefined) throw new DavError(404, "not a WebDAV path");
    const auth = await authenticator.authenticate(req.headers.authorization, clientAddress(req, options.trustForwardedFor));
    if (!auth.ok) {
      if (auth.status === 429) res.setHeader("retry-after", String(auth.retryAfterSeconds));
      else res.setHeader("www-authenticate", 'Basic realm="cfs", charset="UTF-8"');
      throw new DavError(auth.status, auth.message);
    }
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort(new CfsError("cancelled", "the client went away"));
    });
    const call: Call = { req, res, path, as: { token: auth.token, requestId: res.getHeader("x-request-id") as string, signal: abort.signal }, log: log.child({ user: auth.user }) };
    try {
      await dispatch(call, method);
    } catch (err) {
      // A service refused the session's token (its signing key was rotated, say): the next request logs in again.
      if (err instanceof CfsError && err.kind === "unauthenticated") authenticator.forget(auth.token);
      throw err;
    }
  };

  const dispatch = async (call: Call, method: string): Promise<void> => {
    const { res } = call;
    switch (method) {
      case "OPTIONS":
        return options_(call);
      case "GET":
      case "HEAD":
        return get(call, method === "HEAD");
      case "PUT":
        return put(call);
      case "DELETE":
        return remove(call);
      case "MKCOL":
        return mkcol(call);
      case "COPY":
      case "MOVE":
        return copyOrMove(call, method === "MOVE");
      case "PROPFIND":
        return propfind(call);
      case "PROPPATCH":
        return proppatch(call);
      case "LOCK":
        return lock(call);
      case "UNLOCK":
        return unlock(call);
      default:
        res.setHeader("allow", METHODS.join(", "));
        throw new DavError(405, `${method} is not supported`);
    }
  };

  // ---- methods ----------------------------------------------------------------------------

  const options_ = async ({ res }: Call) => {
    res.writeHead(200, { dav: "1, 2", allow: METHODS.join(", "), "ms-author-via": "DAV", "content-length": "0" }).end();
  };

  const get = async (call: Call, headOnly: boolean) => {
    const { req, res, path, as } = call;
    const resource = await resources.stat(path, as);
    if (!resource) throw new DavError(404, "not found");
    if (resource.kind === "collection") {
      // A collection has no content of its own; a short listing helps people with a browser.
      const members = await resources.members(path, as);
      const body = `<!doctype html><meta charset="utf-8"><title>${escapeXml(path || "/")}</title><ul>${members
        .map((m) => `<li><a href="${escapeXml(paths.href(m.path, m.kind === "collection"))}">${escapeXml(m.path.slice(memberPrefix(path).length))}${m.kind === "collection" ? "/" : ""}</a></li>`)
        .join("")}</ul>`;
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(body) });
      return void res.end(headOnly ? undefined : body);
    }
    const file = resource.file;
    const etag = etagOf(file);
    const headers: Record<string, string | number> = {
      etag,
      "last-modified": file.updatedAt.toUTCString(),
      "accept-ranges": "bytes",
      "content-type": headerSafe(file.contentType) ?? "application/octet-stream",
    };
    const ifNoneMatch = req.headers["if-none-match"];
    if (ifNoneMatch && matchesEtag(ifNoneMatch, etag)) return void res.writeHead(304, headers).end();
    const ifMatch = req.headers["if-match"];
    if (ifMatch && !matchesEtag(ifMatch, etag)) throw new DavError(412, "If-Match does not match");
    const ifRange = req.headers["if-range"];
    const range = ifRange && ifRange !== etag ? undefined : parseRange(req.headers.range, file.size);
    if (range === "unsatisfiable") {
      res.setHeader("content-range", `bytes */${file.size}`);
      throw new DavError(416, "the range is outside the file");
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? file.size;
    if (range) headers["content-range"] = `bytes ${start}-${end - 1}/${file.size}`;
    headers["content-length"] = end - start;
    if (headOnly || end === start) return void res.writeHead(range ? 206 : 200, headers).end();
    // Nothing is sent before the first bytes arrive: a failure before them is still a status.
    const stream = content.download(file.fileId, start, end - start, call.as)[Symbol.asyncIterator]();
    const first = await stream.next();
    res.writeHead(range ? 206 : 200, headers);
    try {
      await pipeline(
        (async function* () {
          if (!first.done) yield first.value;
          for (let next = await stream.next(); !next.done; next = await stream.next()) yield next.value;
        })(),
        res,
      );
    } catch (err) {
      if (!res.destroyed) call.log.warn({ err }, "download failed after the response started");
      res.destroy();
    }
  };

  const put = async (call: Call) => {
    const { req, res, path, as } = call;
    if (path === "") throw new DavError(405, "the root is a collection");
    if (req.headers["content-range"]) throw new DavError(400, "partial PUT (Content-Range) is not supported");
    const existing = await resources.stat(path, as);
    if (existing?.kind === "collection") throw new DavError(405, "a collection cannot be replaced by a file");
    if (!(await resources.isCollection(parentOf(path), as))) throw new DavError(409, "the parent collection does not exist");
    const etag = existing?.kind === "file" ? etagOf(existing.file) : undefined;
    checkEtagPreconditions(req, etag);
    await checkWrite(call, path, { changesMembership: !existing, descendants: false }, existing);
    const length = req.headers["content-length"];
    const size = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    const contentType = headerSafe(req.headers["content-type"]?.split(";")[0]?.trim()) ?? "";
    const file = await content.upload(path, contentType, size, req as AsyncIterable<Buffer>, as);
    res.writeHead(existing ? 204 : 201, { etag: etagOf(file), "content-length": "0" }).end();
  };

  const remove = async (call: Call) => {
    const { res, path, as } = call;
    if (call.req.url?.includes("#")) throw new DavError(400, "a URL with a fragment names no resource");
    if (path === "") throw new DavError(403, "the root cannot be deleted");
    const resource = await resources.stat(path, as);
    if (!resource) throw new DavError(404, "not found");
    await checkWrite(call, path, { changesMembership: true, descendants: true }, resource);
    await deleteTree(resource, as);
    res.writeHead(204).end();
  };

  const mkcol = async (call: Call) => {
    const { req, res, path, as } = call;
    if (req.headers["content-length"] && req.headers["content-length"] !== "0") throw new DavError(415, "MKCOL takes no body");
    if (req.headers["transfer-encoding"]) throw new DavError(415, "MKCOL takes no body");
    if (path === "" || (await resources.stat(path, as))) throw new DavError(405, "it exists already");
    if (!(await resources.isCollection(parentOf(path), as))) throw new DavError(409, "the parent collection does not exist");
    await checkWrite(call, path, { changesMembership: true, descendants: false }, undefined);
    await state.createFolder(path, as);
    res.writeHead(201, { "content-length": "0" }).end();
  };

  const copyOrMove = async (call: Call, move: boolean) => {
    const { req, res, path, as } = call;
    const destination = destinationPath(req);
    const overwrite = (header(req, "overwrite") ?? "T").toUpperCase() !== "F";
    const depth = header(req, "depth") ?? "infinity";
    if (path === "") throw new DavError(403, "the root cannot be copied or moved");
    const source = await resources.stat(path, as);
    if (!source) throw new DavError(404, "not found");
    if (destination === path) throw new DavError(403, "source and destination are the same");
    if (source.kind === "collection" && isUnder(destination, path)) throw new DavError(403, "a collection cannot go inside itself");
    if (destination === "") throw new DavError(403, "the root cannot be replaced");
    if (move && source.kind === "collection" && depth.toLowerCase() !== "infinity") throw new DavError(400, "a collection moves with Depth: infinity");
    if (!(await resources.isCollection(parentOf(destination), as))) throw new DavError(409, "the destination's parent collection does not exist");
    const target = await resources.stat(destination, as);
    if (target && !overwrite) throw new DavError(412, "the destination exists and Overwrite is F");
    if (move) await checkWrite(call, path, { changesMembership: true, descendants: true }, source);
    await checkWrite(call, destination, { changesMembership: !target, descendants: true }, target, false);
    // A file copied onto a file becomes its new version (history kept); anything else replaces it.
    const asNewVersion = !move && source.kind === "file" && target?.kind === "file";
    if (target && !asNewVersion) await deleteTree(target, as);
    if (source.kind === "file") {
      await (move ? files.move(source.file, destination, as) : files.copy(source.file, destination, as));
    } else {
      const all = await resources.filesUnder(path, as);
      const shallow = !move && depth === "0";
      for (const file of shallow ? [] : all) {
        const name = destination + file.name.slice(path.length);
        await (move ? files.move(file, name, as) : files.copy(file, name, as));
      }
      if (shallow) await state.createFolder(destination, as);
    }
    // Dead properties (and, under a collection, its folders) go along, except for a Depth: 0 copy of a collection.
    if (source.kind === "file" || move || depth !== "0") await state.movePaths(path, destination, !move, as);
    if (source.kind === "collection") await state.createFolder(destination, as);
    res.writeHead(target ? 204 : 201, { "content-length": "0" }).end();
  };

  const propfind = async (call: Call) => {
    const { req, res, path, as } = call;
    const depth = header(req, "depth") ?? "infinity";
    if (depth !== "0" && depth !== "1") throw new DavError(403, "PROPFIND with Depth: infinity is not served; use 0 or 1", "<D:propfind-finite-depth/>");
    const body = await readXml(req);
    const request: PropfindRequest = parsePropfind(body);
    const resource = await resources.stat(path, as);
    if (!resource) throw new DavError(404, "not found");
    const all: Resource[] = [resource, ...(depth === "1" && resource.kind === "collection" ? await resources.members(path, as) : [])];
    const [dead, locks, usage] = await Promise.all([
      state.getProperties(all.map((r) => r.path), as),
      state.listLocks(path, depth === "1", as),
      wantsQuota(request) ? files.usage(as) : undefined,
    ]);
    const responses = all.map((r) =>
      propfindResponse(r, request, {
        paths,
        dead: dead.filter((p) => p.path === r.path),
        locks: locks.filter((l) => tokensCovering([l], r.path).size > 0),
        usage,
      }),
    );
    sendXml(res, 207, multistatus(responses));
  };

  const proppatch = async (call: Call) => {
    const { req, res, path, as } = call;
    const root = await readXml(req);
    if (!root) throw new DavError(400, "PROPPATCH needs a DAV:propertyupdate body");
    const updates = parsePropertyUpdate(root);
    const resource = await resources.stat(path, as);
    if (!resource) throw new DavError(404, "not found");
    await checkWrite(call, path, { changesMembership: false, descendants: false }, resource);
    const key = (u: { namespace: string; name: string }) => (u.namespace === "DAV:" ? `<D:${u.name}/>` : `<${u.name} xmlns="${escapeXml(u.namespace)}"/>`);
    const refused = updates.filter((u) => isProtected(u.namespace, u.name));
    const href = paths.href(path, resource.kind === "collection");
    if (refused.length > 0) {
      // All or nothing (RFC 4918 9.2): the protected ones fail, the others fail with them.
      const others = updates.filter((u) => !isProtected(u.namespace, u.name));
      return sendXml(res, 207, multistatus([responseXml(href, [["HTTP/1.1 403 Forbidden", refused.map(key)], ["HTTP/1.1 424 Failed Dependency", others.map(key)]])]));
    }
    // The last instruction for a property wins, as if applied in order.
    const final = new Map<string, (typeof updates)[number]>();
    for (const u of updates) final.set(`{${u.namespace}}${u.name}`, u);
    const set = [...final.values()].flatMap((u) => (u.op === "set" ? [{ path, namespace: u.namespace, name: u.name, xml: u.xml }] : []));
    const removed = [...final.values()].filter((u) => u.op === "remove").map((u) => ({ namespace: u.namespace, name: u.name }));
    await state.updateProperties(path, set, removed, as);
    sendXml(res, 207, multistatus([responseXml(href, [["HTTP/1.1 200 OK", updates.map(key)]])]));
  };

  const lock = async (call: Call) => {
    const { req, res, path, as } = call;
    const timeout = lockTimeout(header(req, "timeout"), options.lockTimeouts.defaultSeconds, options.lockTimeouts.maxSeconds);
    const body = await readXml(req);
    if (!body) {
      // A refresh: the lock named in the If header gets a new timeout.
      const ifHeader = header(req, "if");
      const tokens = ifHeader ? [...submittedTokens(parseIfHeader(ifHeader))] : [];
      if (tokens.length === 0) throw new DavError(400, "a LOCK without a body refreshes the lock named in the If header");
      const covering = tokensCovering(await state.listLocks(path, false, as), path);
      const token = tokens.find((t) => covering.has(t));
      const refreshed = token && (await state.refreshLock(token, timeout, as));
      if (!refreshed) throw new DavError(412, "no such lock on this resource", "<D:lock-token-matches-request-uri/>");
      return sendXml(res, 200, lockAnswer(refreshed));
    }
    if (!isDav(body, "lockinfo")) throw new DavError(400, "the body must be a DAV:lockinfo element");
    const scope = child(body, "lockscope");
    const exclusive = scope ? children(scope).some((c) => isDav(c, "exclusive")) : true;
    if (scope && !exclusive && !children(scope).some((c) => isDav(c, "shared"))) throw new DavError(400, "DAV:lockscope must be exclusive or shared");
    const owner = child(body, "owner");
    const depth = (header(req, "depth") ?? "infinity").toLowerCase();
    if (depth !== "0" && depth !== "infinity") throw new DavError(400, "LOCK takes Depth: 0 or infinity");
    const existing = await resources.stat(path, as);
    await checkWrite(call, path, { changesMembership: !existing, descendants: depth === "infinity" }, existing, true, true);
    const taken = await state.lock({ path, infinite: depth === "infinity", exclusive, ownerXml: owner ? serialize(owner) : "", timeoutSeconds: timeout }, as);
    if (!taken) throw new DavError(423, "the resource is locked", "<D:no-conflicting-lock/>");
    let created = false;
    if (!existing) {
      // Locking an unmapped URL makes an empty resource (RFC 4918 7.3).
      if (!(await resources.isCollection(parentOf(path), as))) {
        await state.unlock(taken.token, as);
        throw new DavError(409, "the parent collection does not exist");
      }
      await content.upload(path, "", 0, (async function* () {})(), as);
      created = true;
    }
    res.setHeader("lock-token", `<${taken.token}>`);
    sendXml(res, created ? 201 : 200, lockAnswer(taken));
  };

  const unlock = async (call: Call) => {
    const { req, res, path, as } = call;
    const lockToken = header(req, "lock-token") ?? "";
    const token = /^\s*<([^>]+)>\s*$/.exec(lockToken)?.[1];
    if (!token) throw new DavError(400, "UNLOCK needs a Lock-Token header");
    const covering = tokensCovering(await state.listLocks(path, false, as), path);
    if (!covering.has(token) || !(await state.unlock(token, as))) throw new DavError(409, "no such lock on this resource", "<D:lock-token-matches-request-uri/>");
    res.writeHead(204).end();
  };

  // ---- shared steps -----------------------------------------------------------------------

  const lockAnswer = (l: DavLock) => `<?xml version="1.0" encoding="utf-8"?>\n<D:prop xmlns:D="DAV:"><D:lockdiscovery>${activeLock(l, paths)}</D:lockdiscovery></D:prop>`;

  /**
   * Before a write to `path`: the If header, when given, must hold (412),
   * and every lock bearing on the write must have its token submitted
   * (423). `checkIf` false: the header was checked already (COPY/MOVE's
   * source). `forLock`: a LOCK asks for a new lock, which conflicts are
   * the metadata service's to decide; only the If header counts here.
   */
  const checkWrite = async (call: Call, path: string, scope: WriteScope, resource: Resource | undefined, checkIf = true, forLock = false) => {
    const ifHeader = header(call.req, "if");
    const lists: IfList[] = ifHeader ? parseIfHeader(ifHeader) : [];
    const locks = await state.listLocks(path, scope.descendants, call.as);
    if (checkIf && lists.length > 0) {
      const holds = await evaluateIf(lists, async (tagged) => {
        const target = tagged === undefined ? path : taggedPath(tagged);
        if (target === undefined) return { lockTokens: new Set(), etag: undefined };
        const targetResource = target === path ? resource : await resources.stat(target, call.as);
        const targetLocks = target === path ? locks : await state.listLocks(target, false, call.as);
        return { lockTokens: tokensCovering(targetLocks, target), etag: targetResource?.kind === "file" ? etagOf(targetResource.file) : undefined };
      });
      if (!holds) throw new DavError(412, "the If header's conditions do not hold");
    }
    if (forLock) return;
    const missing = unsatisfied(locksBearingOn(locks, path, scope), submittedTokens(lists));
    if (missing.length > 0) {
      throw new DavError(423, "the resource is locked", `<D:lock-token-submitted>${missing.map((l) => `<D:href>${escapeXml(paths.href(l.path, false))}</D:href>`).join("")}</D:lock-token-submitted>`);
    }
  };

  const taggedPath = (url: string): string | undefined => {
    try {
      return paths.toPath(new URL(url, "http://dav").pathname);
    } catch {
      return undefined;
    }
  };

  const destinationPath = (req: IncomingMessage): string => {
    const destination = header(req, "destination");
    if (!destination) throw new DavError(400, "COPY and MOVE need a Destination header");
    let url: URL;
    try {
      url = new URL(destination, `http://${req.headers.host ?? "dav"}`);
    } catch {
      throw new DavError(400, "the Destination header is not a URL");
    }
    if (req.headers.host && url.host !== req.headers.host) throw new DavError(502, "the destination is on another server");
    const path = paths.toPath(url.pathname);
    if (path === undefined) throw new DavError(502, "the destination is outside this WebDAV server");
    return path;
  };

  /** Deletes a file, or a collection with everything under it, and their folders and properties. */
  const deleteTree = async (resource: Resource, as: CallIdentity) => {
    if (resource.kind === "file") {
      await files.remove(resource.file.fileId, as);
    } else {
      const all = await resources.filesUnder(resource.path, as);
      for (let i = 0; i < all.length; i += MAX_DELETES_AT_ONCE) {
        await Promise.all(all.slice(i, i + MAX_DELETES_AT_ONCE).map((f) => files.remove(f.fileId, as)));
      }
    }
    await state.removePaths(resource.path, as);
  };

  const readXml = async (req: IncomingMessage) => {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const part of req as AsyncIterable<Buffer>) {
      size += part.length;
      if (size > options.maxXmlBytes) throw new DavError(413, `request body over ${options.maxXmlBytes} bytes`);
      parts.push(part);
    }
    const text = Buffer.concat(parts).toString("utf8");
    if (text.trim() === "") return undefined;
    try {
      return parseXml(text);
    } catch (err) {
      throw new DavError(400, (err as Error).message);
    }
  };

  return (req, res) => {
    const started = process.hrtime.bigint();
    const requestId = typeof req.headers["x-request-id"] === "string" && /^[A-Za-z0-9._-]{1,128}$/.test(req.headers["x-request-id"]) ? req.headers["x-request-id"] : randomUUID();
    res.setHeader("x-request-id", requestId);
    const log = baseLog.child({ requestId });
    res.on("close", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      options.observe?.(req.method ?? "", res.statusCode, seconds);
      log.info({ method: req.method, path: (req.url ?? "").split("?")[0], status: res.statusCode, ms: Math.round(seconds * 1000) }, "webdav request");
    });
    handle(req, res, log).catch((err: unknown) => sendError(req, res, err, log));
  };
}

/** Who is calling, for the failed-login limits. */
function clientAddress(req: IncomingMessage, trustForwardedFor: boolean): string {
  const forwarded = trustForwardedFor ? header(req, "x-forwarded-for")?.split(",").at(-1)?.trim() : undefined;
  return forwarded || (req.socket.remoteAddress ?? "");
}

/** A request header that must appear at most once. */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function sendXml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": 'application/xml; charset="utf-8"', "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** CfsErrors from the services as HTTP statuses (507 for a quota, RFC 4918 11.5). */
const STATUS_OF_KIND: Partial<Record<CfsError["kind"], number>> = {
  "invalid-argument": 400,
  "not-found": 404,
  "already-exists": 409,
  unauthenticated: 401,
  "permission-denied": 403,
  "failed-precondition": 409,
  "out-of-range": 416,
  "resource-exhausted": 507,
  unavailable: 503,
  "deadline-exceeded": 504,
};

function sendError(req: IncomingMessage, res: ServerResponse, err: unknown, log: Logger): void {
  let status: number;
  let message: string;
  let condition: string | undefined;
  if (err instanceof DavError) {
    [status, message, condition] = [err.status, err.message, err.condition];
  } else if (err instanceof CfsError && err.kind === "cancelled") {
    return void res.destroy();
  } else if (err instanceof CfsError && STATUS_OF_KIND[err.kind]) {
    [status, message] = [STATUS_OF_KIND[err.kind]!, err.message];
    if (err.kind === "unavailable" || err.kind === "data-loss") log.warn({ err }, "webdav request failed");
  } else {
    log.error({ err }, "webdav request failed");
    [status, message] = [500, "internal error"];
  }
  if (res.headersSent) return void res.destroy();
  // The rest of an unwanted request body is not read: the connection closes after the answer.
  if (!req.complete) res.shouldKeepAlive = false;
  const body = condition
    ? `<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:">${condition}</D:error>`
    : `${message}\n`;
  res.writeHead(status, {
    "content-type": condition ? 'application/xml; charset="utf-8"' : "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

/** An If-Match/If-None-Match list against a strong tag ("*" matches any existing resource). */
function matchesEtag(header: string, etag: string | undefined): boolean {
  if (etag === undefined) return false;
  return header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === "*" || tag === etag;
  });
}

/** PUT's preconditions: If-Match needs the current tag, If-None-Match: * needs no resource. */
function checkEtagPreconditions(req: IncomingMessage, etag: string | undefined): void {
  const ifMatch = req.headers["if-match"];
  if (ifMatch && !matchesEtag(ifMatch, etag)) throw new DavError(412, "If-Match does not match");
  const ifNoneMatch = req.headers["if-none-match"];
  if (ifNoneMatch && matchesEtag(ifNoneMatch, etag)) throw new DavError(412, "If-None-Match matches");
}

/** A stored or sent content type Node can put in a header (any gRPC client can store one beyond Latin-1). */
function headerSafe(value: string | undefined): string | undefined {
  return value && /^[\t\x20-\x7e\x80-\xff]+$/.test(value) ? value : undefined;
}
