import { createServer, type Server } from "node:http";
import type { JWK } from "jose";

export const JWKS_PATH = "/.well-known/jwks.json";

/** Serves the app-token issuer's public keys (GET /.well-known/jwks.json) for every service's token verifier. */
export async function serveJwks(host: string, port: number, keys: readonly JWK[]): Promise<Server> {
  const body = JSON.stringify({ keys });
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === JWKS_PATH) {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=300" }).end(body);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
