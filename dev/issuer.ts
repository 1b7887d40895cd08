import { createServer, type Server } from "node:http";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type CryptoKey } from "jose";

/**
 * A development token issuer for `make run` and the tests: it serves its
 * JWKS like Auth0 (/.well-known/jwks.json), issues service tokens by the
 * client-credentials grant (/oauth/token), and user tokens for a name
 * (/dev/token?sub=alice). It listens on loopback only and is never used when
 * CFS_AUTH_ISSUER points at a real issuer.
 */
export interface DevIssuerOptions {
  port?: number;
  /** Keeps the signing key here so tokens survive restarts. */
  keyDir?: string;
  audience: string;
  serviceClientId: string;
  serviceClientSecret: string;
  serviceScope?: string;
  tokenTtlSeconds?: number;
}

export interface DevIssuer {
  issuer: string;
  jwksUri: string;
  tokenUrl: string;
  port: number;
  privateKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
  userToken(subject: string, ttlSeconds?: number): Promise<string>;
  close(): Promise<void>;
}

const ALG = "RS256";

async function loadOrCreateKey(keyDir: string | undefined): Promise<{ privateJwk: JWK; kid: string }> {
  const file = keyDir ? join(keyDir, "dev-issuer-key.json") : undefined;
  if (file) {
    try {
      const stored = JSON.parse(await readFile(file, "utf8")) as { privateJwk: JWK; kid: string };
      return stored;
    } catch {
      // no key yet: create one below
    }
  }
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const kid = `dev-${Date.now().toString(36)}`;
  if (file && keyDir) {
    await mkdir(keyDir, { recursive: true });
    await writeFile(file, JSON.stringify({ privateJwk, kid }), { mode: 0o600 });
  }
  return { privateJwk, kid };
}

export async function startDevIssuer(options: DevIssuerOptions): Promise<DevIssuer> {
  const { privateJwk, kid } = await loadOrCreateKey(options.keyDir);
  const privateKey = (await importJWK(privateJwk, ALG)) as CryptoKey;
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
  const jwks = { keys: [{ ...publicJwk, kid, alg: ALG, use: "sig" }] };
  const ttl = options.tokenTtlSeconds ?? 3600;
  let issuer = "";

  const sign = (claims: Record<string, unknown>, subject: string, ttlSeconds: number) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, kid, typ: "JWT" })
      .setIssuer(issuer)
      .setAudience(options.audience)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(privateKey);

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    // The web page signs in from its own origin (the edge's port) in dev mode.
    const cors = url.pathname === "/dev/token" ? { "access-control-allow-origin": "*" } : {};
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...cors }).end(JSON.stringify(body));
    if (req.method === "GET" && url.pathname === "/.well-known/jwks.json") return json(200, jwks);
    if (req.method === "GET" && url.pathname === "/dev/token") {
      const sub = url.searchParams.get("sub") ?? "";
      if (!/^[A-Za-z0-9._@|-]{1,128}$/.test(sub)) return json(400, { error: "sub must be 1-128 of [A-Za-z0-9._@|-]" });
      void sign({}, sub, ttl).then((token) => json(200, { access_token: token, token_type: "Bearer", expires_in: ttl }));
      return;
    }
    if (req.method === "POST" && url.pathname === "/oauth/token") {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (part: string) => (body = (body + part).slice(0, 8192)));
      req.on("end", () => {
        let grant: Record<string, unknown>;
        try {
          grant = JSON.parse(body) as Record<string, unknown>;
        } catch {
          grant = Object.fromEntries(new URLSearchParams(body));
        }
        if (
          grant.grant_type !== "client_credentials" ||
          grant.client_id !== options.serviceClientId ||
          grant.client_secret !== options.serviceClientSecret
        ) {
          return json(401, { error: "access_denied" });
        }
        void sign({ scope: options.serviceScope ?? "cfs:service", gty: "client-credentials" }, `${options.serviceClientId}@clients`, ttl).then(
          (token) => json(200, { access_token: token, token_type: "Bearer", expires_in: ttl }),
        );
      });
      return;
    }
    json(404, { error: "not_found" });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  issuer = `http://127.0.0.1:${port}/`;
  return {
    issuer,
    jwksUri: `${issuer}.well-known/jwks.json`,
    tokenUrl: `${issuer}oauth/token`,
    port,
    privateKey,
    publicJwk: jwks.keys[0]!,
    kid,
    userToken: (subject, ttlSeconds = ttl) => sign({}, subject, ttlSeconds),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
