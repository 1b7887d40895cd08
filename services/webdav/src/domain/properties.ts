import { CfsError } from "#lib/errors.js";
import type { DavLock, DeadProperty } from "../ports/dav-state.js";
import type { DavPaths } from "./paths.js";
import { etagOf, type Resource } from "./resources.js";
import { DAV, children, emptyElement, escapeXml, isDav, propertyKey, serialize, type XmlElement } from "./xml.js";

const EPOCH = new Date(0);

/** The live properties (RFC 4918 15), all computed, none settable. */
const LIVE = ["creationdate", "displayname", "getcontentlength", "getcontenttype", "getetag", "getlastmodified", "resourcetype", "supportedlock", "lockdiscovery"];
/**
 * RFC 4331's quota properties: live and protected too, but answered only
 * when asked for by name (never in allprop, as the RFC says), since they
 * cost a call to the catalogue.
 */
export const QUOTA = ["quota-available-bytes", "quota-used-bytes"];

/** Whether a PROPFIND asks for a quota property (so the caller fetches the usage once for all resources). */
export function wantsQuota(request: PropfindRequest): boolean {
  return request.kind === "prop" && request.names.some((p) => p.namespace === DAV && QUOTA.includes(p.name));
}

export type PropfindRequest = { kind: "allprop" } | { kind: "propname" } | { kind: "prop"; names: Array<{ namespace: string; name: string }> };

/** A PROPFIND body: none (allprop), <allprop/>, <propname/> or <prop>…</prop>; anything else is a 400. */
export function parsePropfind(root: XmlElement | undefined): PropfindRequest {
  if (!root) return { kind: "allprop" };
  if (!isDav(root, "propfind")) throw new CfsError("invalid-argument", "the body must be a DAV:propfind element");
  const [first] = children(root);
  if (!first) throw new CfsError("invalid-argument", "DAV:propfind needs allprop, propname or prop");
  if (isDav(first, "allprop")) return { kind: "allprop" };
  if (isDav(first, "propname")) return { kind: "propname" };
  if (isDav(first, "prop")) return { kind: "prop", names: children(first).map((p) => ({ namespace: p.namespaceURI ?? "", name: p.localName ?? "" })) };
  throw new CfsError("invalid-argument", "DAV:propfind needs allprop, propname or prop");
}

export type PropertyUpdate = { op: "set"; namespace: string; name: string; xml: string } | { op: "remove"; namespace: string; name: string };

/** A PROPPATCH body: <propertyupdate> with <set> and <remove> in document order. */
export function parsePropertyUpdate(root: XmlElement): PropertyUpdate[] {
  if (!isDav(root, "propertyupdate")) throw new CfsError("invalid-argument", "the body must be a DAV:propertyupdate element");
  const updates: PropertyUpdate[] = [];
  for (const action of children(root)) {
    const op = isDav(action, "set") ? "set" : isDav(action, "remove") ? "remove" : undefined;
    if (!op) throw new CfsError("invalid-argument", "DAV:propertyupdate holds only set and remove");
    const prop = children(action).find((c) => isDav(c, "prop"));
    if (!prop) throw new CfsError("invalid-argument", `DAV:${op} needs a DAV:prop`);
    for (const p of children(prop)) {
      const namespace = p.namespaceURI ?? "";
      const name = p.localName ?? "";
      updates.push(op === "set" ? { op, namespace, name, xml: serialize(p) } : { op, namespace, name });
    }
  }
  return updates;
}

/** Live properties cannot be set or removed (403, RFC 4918 9.2). */
export function isProtected(namespace: string, name: string): boolean {
  return namespace === DAV && (LIVE.includes(name) || QUOTA.includes(name));
}

/** What one resource's PROPFIND answer needs besides the resource. */
export interface PropertyContext {
  paths: DavPaths;
  dead: readonly DeadProperty[];
  locks: readonly DavLock[];
  /** The user's usage, when the request names a quota property. */
  usage?: { usedBytes: number; quotaBytes: number };
}

/** A <D:response> for one resource. */
export function propfindResponse(resource: Resource, request: PropfindRequest, context: PropertyContext): string {
  const collection = resource.kind === "collection";
  const href = context.paths.href(resource.path, collection);
  const live = new Map<string, string>();
  for (const name of [...LIVE, ...QUOTA]) {
    const value = liveProperty(resource, name, context);
    if (value !== undefined) live.set(propertyKey(DAV, name), value);
  }
  const dead = new Map(context.dead.map((p) => [propertyKey(p.namespace, p.name), p]));
  const found: string[] = [];
  const missing: string[] = [];
  if (request.kind === "propname") {
    for (const name of LIVE) if (live.has(propertyKey(DAV, name))) found.push(`<D:${name}/>`);
    for (const p of dead.values()) found.push(emptyElement(p.namespace, p.name));
  } else if (request.kind === "allprop") {
    // lockdiscovery and supportedlock are in allprop; the quota properties are not (RFC 4331 3).
    for (const name of LIVE) {
      const value = live.get(propertyKey(DAV, name));
      if (value !== undefined) found.push(value);
    }
    found.push(...[...dead.values()].map((p) => p.xml));
  } else {
    for (const { namespace, name } of request.names) {
      const key = propertyKey(namespace, name);
      const value = live.get(key) ?? dead.get(key)?.xml;
      if (value !== undefined) found.push(value);
      else missing.push(emptyElement(namespace, name));
    }
  }
  return responseXml(href, [
    ["HTTP/1.1 200 OK", found],
    ["HTTP/1.1 404 Not Found", missing],
  ]);
}

/** A <D:response> with one <D:propstat> per status that has properties. */
export function responseXml(href: string, propstats: ReadonlyArray<[string, readonly string[]]>): string {
  const stats = propstats
    .filter(([, props]) => props.length > 0)
    .map(([status, props]) => `<D:propstat><D:prop>${props.join("")}</D:prop><D:status>${status}</D:status></D:propstat>`)
    .join("");
  return `<D:response><D:href>${escapeXml(href)}</D:href>${stats}</D:response>`;
}

export function multistatus(responses: readonly string[]): string {
  return `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">${responses.join("")}</D:multistatus>`;
}

function liveProperty(resource: Resource, name: string, context: PropertyContext): string | undefined {
  const file = resource.kind === "file" ? resource.file : undefined;
  switch (name) {
    case "creationdate": {
      const when = file?.createdAt ?? (resource.kind === "collection" ? resource.updatedAt : undefined) ?? EPOCH;
      return `<D:creationdate>${when.toISOString()}</D:creationdate>`;
    }
    case "displayname": {
      const base = resource.path.slice(resource.path.lastIndexOf("/") + 1);
      return `<D:displayname>${escapeXml(base)}</D:displayname>`;
    }
    case "getcontentlength":
      return file ? `<D:getcontentlength>${file.size}</D:getcontentlength>` : undefined;
    case "getcontenttype":
      return file ? `<D:getcontenttype>${escapeXml(file.contentType || "application/octet-stream")}</D:getcontenttype>` : undefined;
    case "getetag":
      return file ? `<D:getetag>${escapeXml(etagOf(file))}</D:getetag>` : undefined;
    case "getlastmodified": {
      // Mounts (davfs2) need a time on every entry: a collection's is its newest file's, or the epoch.
      const when = file?.updatedAt ?? (resource.kind === "collection" ? resource.updatedAt : undefined) ?? EPOCH;
      return `<D:getlastmodified>${when.toUTCString()}</D:getlastmodified>`;
    }
    case "resourcetype":
      return resource.kind === "collection" ? "<D:resourcetype><D:collection/></D:resourcetype>" : "<D:resourcetype/>";
    case "supportedlock":
      return (
        "<D:supportedlock>" +
        ["exclusive", "shared"].map((s) => `<D:lockentry><D:lockscope><D:${s}/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>`).join("") +
        "</D:supportedlock>"
      );
    case "lockdiscovery":
      return `<D:lockdiscovery>${context.locks.map((l) => activeLock(l, context.paths)).join("")}</D:lockdiscovery>`;
    case "quota-used-bytes":
      return context.usage ? `<D:quota-used-bytes>${context.usage.usedBytes}</D:quota-used-bytes>` : undefined;
    case "quota-available-bytes":
      // Unlimited: left out (404 in the answer), which RFC 4331 allows when the space is unknown.
      return context.usage && context.usage.quotaBytes > 0
        ? `<D:quota-available-bytes>${Math.max(0, context.usage.quotaBytes - context.usage.usedBytes)}</D:quota-available-bytes>`
        : undefined;
    default:
      return undefined;
  }
}

/** A <D:activelock> (lockdiscovery, and the LOCK answer). */
export function activeLock(lock: DavLock, paths: DavPaths): string {
  const seconds = Math.max(0, Math.round((lock.expiresAt.getTime() - Date.now()) / 1000));
  return (
    "<D:activelock>" +
    "<D:locktype><D:write/></D:locktype>" +
    `<D:lockscope><D:${lock.exclusive ? "exclusive" : "shared"}/></D:lockscope>` +
    `<D:depth>${lock.infinite ? "infinity" : "0"}</D:depth>` +
    lock.ownerXml +
    `<D:timeout>Second-${seconds}</D:timeout>` +
    `<D:locktoken><D:href>${escapeXml(lock.token)}</D:href></D:locktoken>` +
    `<D:lockroot><D:href>${escapeXml(paths.href(lock.path, false))}</D:href></D:lockroot>` +
    "</D:activelock>"
  );
}
