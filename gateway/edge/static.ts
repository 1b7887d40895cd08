import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import type { JsonObject } from "@bufbuild/protobuf";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json",
};

/** The page's Content-Security-Policy: its own origin plus the sign-in endpoints /config.json names. */
function contentSecurityPolicy(pageConfig: JsonObject): string {
  const auth = (pageConfig.auth ?? {}) as { mode?: string; tokenUrl?: string; domain?: string };
  const signIn = auth.mode === "auth0" && auth.domain ? `https://${auth.domain}` : auth.tokenUrl ? new URL(auth.tokenUrl).origin : "";
  return [
    "default-src 'self'",
    `connect-src 'self' ${signIn}`.trim(),
    auth.mode === "auth0" ? `frame-src ${signIn}` : "frame-src 'none'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

type StaticHandler = (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<void>;

/**
 * The web page: files of the Vite build (hashed /assets/ cached for good,
 * the rest revalidated), index.html for the page's own paths, and
 * /config.json telling the page how to sign in. Headers and /config.json
 * are made once, here.
 */
export function createStaticHandler(webRoot: string | undefined, pageConfig: JsonObject): StaticHandler {
  const headers: Readonly<Record<string, string>> = {
    "content-security-policy": contentSecurityPolicy(pageConfig),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };
  const configText = JSON.stringify(pageConfig);
  const root = webRoot ? resolve(webRoot) : undefined;
  return async (req, res, pathname) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (pathname === "/config.json") {
      res.writeHead(200, { ...headers, "content-type": "application/json", "cache-control": "no-cache" });
      res.end(req.method === "HEAD" ? undefined : configText);
      return;
    }
    const file = root ? await findFile(root, pathname) : undefined;
    if (!file) {
      res.writeHead(404, { ...headers, "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    res.writeHead(200, {
      ...headers,
      "content-type": CONTENT_TYPES[extname(file.path)] ?? "application/octet-stream",
      "content-length": file.size,
      "cache-control": pathname.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
    });
    if (req.method === "HEAD") return void res.end();
    // pipeline, not pipe: a read error fails the request (logged) instead of
    // the process, and a client that leaves closes the file.
    await pipeline(createReadStream(file.path), res).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ERR_STREAM_PREMATURE_CLOSE") throw err;
    });
  };
}

/** The file for a path inside root, or index.html for extension-less page paths (client-side routes). */
async function findFile(root: string, pathname: string): Promise<{ path: string; size: number } | undefined> {
  let relative: string;
  try {
    relative = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  const wanted = resolve(join(root, relative === "/" ? "index.html" : relative));
  if (wanted !== root && !wanted.startsWith(root + sep)) return undefined;
  const found = await stat(wanted).catch(() => undefined);
  if (found?.isFile()) return { path: wanted, size: found.size };
  if (extname(wanted) !== "") return undefined;
  const index = join(root, "index.html");
  const indexStat = await stat(index).catch(() => undefined);
  return indexStat?.isFile() ? { path: index, size: indexStat.size } : undefined;
}
