import { parseAuthConfig, parseServiceCredentials, type AuthConfig, type ServiceCredentialsConfig } from "#lib/auth.js";
import { bool, deepFreeze, int, str, type Env } from "#lib/config.js";
import { parseServerConfig, type ServerConfig } from "#lib/service.js";

export interface WebDavConfig {
  /** HTTP (not gRPC) on CFS_PORT; the message and window sizes are for its calls to the services. */
  server: ServerConfig;
  auth: AuthConfig;
  /** The identity app passwords are exchanged with (AppPasswordService.ExchangeAppPassword). */
  serviceCredentials: ServiceCredentialsConfig;
  chunkerAddress: string;
  metadataAddress: string;
  /** URL path the collections are under, e.g. /dav/ (the gateways route it here). */
  prefix: string;
  /** A verified app password is reused this long without asking metadata again. */
  credentialCacheSeconds: number;
  loginLimits: { windowMs: number; maxPerAddress: number; maxPerUser: number };
  lockTimeouts: { defaultSeconds: number; maxSeconds: number };
  maxXmlBytes: number;
  /** Only the gateway reaches this service: its X-Forwarded-For names the client. */
  trustForwardedFor: boolean;
}

export function parseConfig(env: Env): Readonly<WebDavConfig> {
  const auth = parseAuthConfig(env);
  return deepFreeze({
    server: parseServerConfig(env, 8005, 9105),
    auth,
    serviceCredentials: parseServiceCredentials(env, auth),
    chunkerAddress: str(env, "CFS_CHUNKER_ADDR", "localhost:8002"),
    metadataAddress: str(env, "CFS_METADATA_ADDR", "localhost:8000"),
    prefix: str(env, "CFS_WEBDAV_PREFIX", "/dav/"),
    credentialCacheSeconds: int(env, "CFS_WEBDAV_CREDENTIAL_CACHE_SECONDS", 60, 0, 3600),
    loginLimits: {
      windowMs: int(env, "CFS_WEBDAV_LOGIN_WINDOW_SECONDS", 300, 1, 86_400) * 1000,
      maxPerAddress: int(env, "CFS_WEBDAV_LOGIN_FAILURES_PER_ADDRESS", 5, 1),
      maxPerUser: int(env, "CFS_WEBDAV_LOGIN_FAILURES_PER_USER", 50, 1),
    },
    lockTimeouts: { defaultSeconds: 3600, maxSeconds: 86_400 },
    maxXmlBytes: 1024 * 1024,
    trustForwardedFor: bool(env, "CFS_WEBDAV_TRUST_FORWARDED_FOR", false),
  });
}
