import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { type Env, optionalStr, str, url, int } from "./config.js";
import { CfsError, unauthenticated } from "./errors.js";
import { MAX_OWNER_LENGTH } from "./limits.js";

/** Who is calling: the JWT subject, and whether it is a cfs service identity. */
export interface Principal {
  readonly subject: string;
  readonly isService: boolean;
  /** Set when the session was opened with this app password (a token of the app-token issuer). */
  readonly appPasswordId?: string;
}

/**
 * The issuer of the short-lived tokens the metadata service exchanges app
 * passwords for (docs: README "App passwords"). Services trust it beside
 * the main issuer, for user sessions only.
 */
export interface AppTokenIssuerConfig {
  readonly issuer: string;
  readonly jwksUri: string;
}

/** The `iss` of app-password session tokens (CFS_APP_TOKEN_ISSUER overrides it). */
export const DEFAULT_APP_TOKEN_ISSUER = "urn:cfs:app-passwords";
/** The claim that marks an app-password session: the app password's id. */
export const APP_PASSWORD_CLAIM = "cfs_app_password";

export interface AuthConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUri: string;
  /** Asymmetric algorithms only: an HMAC token signed with a public key must fail. */
  readonly algorithms: readonly string[];
  readonly clockToleranceSeconds: number;
  /** A token whose `scope` or `permissions` holds this acts as a cfs service. */
  readonly serviceScope: string;
  /** Also trusted when set: the app-token issuer (CFS_APP_TOKEN_JWKS_URI). */
  readonly appTokens?: AppTokenIssuerConfig;
}

const ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/**
 * Reads CFS_AUTH_ISSUER, CFS_AUTH_AUDIENCE, CFS_AUTH_JWKS_URI (default: the
 * issuer's /.well-known/jwks.json, as Auth0 publishes it), CFS_AUTH_ALGORITHMS.
 */
export function parseAuthConfig(env: Env): AuthConfig {
  const issuer = url(env, "CFS_AUTH_ISSUER");
  const algorithms = (optionalStr(env, "CFS_AUTH_ALGORITHMS") ?? "RS256,ES256,EdDSA").split(",").map((a) => a.trim());
  for (const alg of algorithms) {
    if (!ASYMMETRIC_ALGORITHMS.includes(alg)) throw new CfsError("invalid-argument", `CFS_AUTH_ALGORITHMS: ${alg} is not an asymmetric JWS algorithm`);
  }
  return {
    issuer,
    audience: str(env, "CFS_AUTH_AUDIENCE"),
    jwksUri: url(env, "CFS_AUTH_JWKS_URI", new URL(".well-known/jwks.json", issuer.endsWith("/") ? issuer : `${issuer}/`).toString()),
    algorithms,
    clockToleranceSeconds: int(env, "CFS_AUTH_CLOCK_SKEW_SECONDS", 30, 0, 300),
    serviceScope: str(env, "CFS_AUTH_SERVICE_SCOPE", "cfs:service"),
    ...(optionalStr(env, "CFS_APP_TOKEN_JWKS_URI")
      ? { appTokens: { issuer: str(env, "CFS_APP_TOKEN_ISSUER", DEFAULT_APP_TOKEN_ISSUER), jwksUri: url(env, "CFS_APP_TOKEN_JWKS_URI") } }
      : {}),
  };
}

/** A kid is an opaque short name; anything else is refused before any lookup. */
const SANE_KID = /^[A-Za-z0-9._~-]{1,128}$/;

export type TokenVerifier = (token: string) => Promise<Principal>;

/**
 * Verifies bearer tokens against a remote JWKS. jose caches the key set,
 * refetches at most once per cooldown for an unknown kid, and fails closed
 * when the JWKS endpoint is unreachable. A verified token is remembered for
 * a while (see `remembering`).
 */
export function createTokenVerifier(config: AuthConfig): TokenVerifier {
  return remembering(verifyingSignatures(config), REMEMBER_VERIFIED);
}

/** How long and how many verified tokens each process remembers. */
export const REMEMBER_VERIFIED = { maxSeconds: 60, maxTokens: 1000 };

/**
 * Remembers what `verify` answered for a token, for at most `maxSeconds` and
 * never past the token's own `exp`, for the `maxTokens` most recently seen.
 * A client sends the same token with every call (a small-file upload is four
 * calls between services, each verified by its receiver), and an RS256
 * signature check costs about as much CPU as moving 1 MiB; the key set
 * itself is cached for minutes by jose already, so a remembered token is no
 * staler than the keys it was checked with. Refusals are not remembered: an
 * invalid token is checked again each time, as before.
 */
export function remembering(verify: TokenVerifier, limits: { maxSeconds: number; maxTokens: number }, now = () => Date.now()): TokenVerifier {
  const verified = new Map<string, { principal: Principal; until: number }>();
  return async (token) => {
    const known = verified.get(token);
    if (known) {
      verified.delete(token);
      if (known.until > now()) {
        verified.set(token, known);
        return known.principal;
      }
    }
    const principal = await verify(token);
    const exp = decodeJwt(token).exp;
    const until = Math.min(now() + limits.maxSeconds * 1000, exp === undefined ? 0 : exp * 1000);
    if (until > now()) {
      verified.set(token, { principal, until });
      if (verified.size > limits.maxTokens) verified.delete(verified.keys().next().value!);
    }
    return principal;
  };
}

/** Checks each token's signature and claims, every time. */
function verifyingSignatures(config: AuthConfig): TokenVerifier {
  const jwksOptions = { timeoutDuration: 5_000, cooldownDuration: 30_000, cacheMaxAge: 600_000 };
  const mainKeys = createRemoteJWKSet(new URL(config.jwksUri), jwksOptions);
  const appTokens = config.appTokens;
  const appKeys = appTokens && createRemoteJWKSet(new URL(appTokens.jwksUri), jwksOptions);
  return async (token) => {
    let payload: JWTPayload;
    let fromAppIssuer: boolean;
    try {
      const header = decodeProtectedHeader(token);
      if (header.kid !== undefined && !SANE_KID.test(header.kid)) throw unauthenticated("invalid token");
      // The unverified iss only picks the key set; the verification checks it again.
      fromAppIssuer = appTokens !== undefined && decodeJwt(token).iss === appTokens.issuer;
      ({ payload } = await jwtVerify(token, fromAppIssuer ? appKeys! : mainKeys, {
        issuer: fromAppIssuer ? appTokens!.issuer : config.issuer,
        audience: config.audience,
        algorithms: [...config.algorithms],
        requiredClaims: ["exp", "sub"],
        clockTolerance: config.clockToleranceSeconds,
      }));
    } catch (err) {
      if (err instanceof CfsError) throw err;
      if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JOSEError && err.code === "ERR_JWKS_INVALID") {
        throw unauthenticated("token keys unavailable");
      }
      throw unauthenticated(err instanceof joseErrors.JWTExpired ? "token expired" : "invalid token");
    }
    const subject = payload.sub;
    if (!subject || subject.length > MAX_OWNER_LENGTH) throw unauthenticated("invalid token subject");
    if (!fromAppIssuer) return { subject, isService: hasScope(payload, config.serviceScope) };
    // The app-token issuer opens user sessions marked as such, nothing else.
    const appPasswordId = payload[APP_PASSWORD_CLAIM];
    if (typeof appPasswordId !== "string" || appPasswordId === "") throw unauthenticated("invalid token");
    return { subject, isService: false, appPasswordId };
  };
}

function hasScope(payload: JWTPayload, scope: string): boolean {
  const scopes = typeof payload.scope === "string" ? payload.scope.split(" ") : [];
  const permissions = Array.isArray(payload.permissions) ? payload.permissions : [];
  return scopes.includes(scope) || permissions.includes(scope);
}

/** Extracts the token of an `authorization: Bearer <token>` value. */
export function bearerToken(header: string | undefined): string {
  const match = header ? /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim()) : null;
  if (!match?.[1]) throw unauthenticated("missing bearer token");
  return match[1];
}

export interface ServiceCredentialsConfig {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly audience: string;
}

/**
 * CFS_SERVICE_TOKEN_URL (default: the issuer's /oauth/token, as on Auth0),
 * CFS_SERVICE_CLIENT_ID and CFS_SERVICE_CLIENT_SECRET: the OAuth2
 * client-credentials grant that background work authenticates with.
 */
export function parseServiceCredentials(env: Env, auth: AuthConfig): ServiceCredentialsConfig {
  const base = auth.issuer.endsWith("/") ? auth.issuer : `${auth.issuer}/`;
  return {
    tokenUrl: url(env, "CFS_SERVICE_TOKEN_URL", new URL("oauth/token", base).toString()),
    clientId: str(env, "CFS_SERVICE_CLIENT_ID"),
    clientSecret: str(env, "CFS_SERVICE_CLIENT_SECRET"),
    audience: auth.audience,
  };
}

/**
 * Fetches and caches a service-identity access token (client credentials),
 * renewing it a minute before it expires.
 */
export function createServiceTokenSource(config: ServiceCredentialsConfig): () => Promise<string> {
  let cached: { token: string; renewAt: number } | undefined;
  let inflight: Promise<string> | undefined;
  const fetchToken = async (): Promise<string> => {
    const response = await fetch(config.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        grant_type: "client_credentials",
        client_id: config.clientId,
        client_secret: config.clientSecret,
        audience: config.audience,
      }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`service token request failed: HTTP ${response.status}`);
    const body = (await response.json()) as { access_token?: string; expires_in?: number };
    if (!body.access_token) throw new Error("service token response has no access_token");
    const lifetime = (body.expires_in ?? 300) * 1000;
    cached = { token: body.access_token, renewAt: Date.now() + Math.max(lifetime - 60_000, lifetime / 2) };
    return body.access_token;
  };
  return async () => {
    if (cached && Date.now() < cached.renewAt) return cached.token;
    inflight ??= fetchToken().finally(() => (inflight = undefined));
    return inflight;
  };
}
