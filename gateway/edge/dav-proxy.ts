import { request, type IncomingMessage, type ServerResponse } from "node:http";
import type { Logger } from "#lib/logger.js";

/** Where the edge sends WebDAV: the path prefix and the WebDAV service (services/webdav). */
export interface DavRoute {
  prefix: string;
  /** http://host:port of the WebDAV service. */
  upstream: string;
}

/** Whether a request path is the WebDAV tree's. */
export function isDavPath(route: DavRoute, pathname: string): boolean {
  return pathname === route.prefix.replace(/\/$/, "") || pathname.startsWith(route.prefix);
}

/**
 * Hands a WebDAV request to the WebDAV service as it is — method, path,
 * headers (Host included: Destination headers name it), body streamed both
 * ways with backpressure — the way Envoy's /dav/ route does in Kubernetes.
 */
export function proxyDav(route: DavRoute, req: IncomingMessage, res: ServerResponse, log: Logger): void {
  const target = new URL(route.upstream);
  const upstream = request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, "x-request-id": res.getHeader("x-request-id") as string, "x-forwarded-for": req.socket.remoteAddress ?? "" },
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on("error", () => res.destroy());
    },
  );
  upstream.on("error", (err) => {
    if (res.headersSent) return void res.destroy();
    log.warn({ err }, "the WebDAV service did not answer");
    res.writeHead(502, { "content-type": "text/plain" }).end("the WebDAV service is unavailable\n");
  });
  res.on("close", () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}
