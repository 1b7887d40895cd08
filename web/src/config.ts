/**
 * The page's runtime configuration, GET /config.json from its own origin
 * (written by the edge in `make run`, a ConfigMap in Kubernetes), so one
 * build serves every installation.
 */

export type AuthConfig =
  /** The dev issuer of `make run`: a token for any user name. */
  | { mode: "dev"; tokenUrl: string }
  /** Auth0 SPA login: authorization code with PKCE. */
  | { mode: "auth0"; domain: string; clientId: string; audience: string };

export interface PageConfig {
  /** Prefix of the REST API ("" = this origin). */
  apiBaseUrl: string;
  auth: AuthConfig;
}

export class ConfigError extends Error {}

function text(value: unknown, field: string, required = true): string {
  if (value === undefined && !required) return "";
  if (typeof value !== "string" || (required && value.trim() === "")) throw new ConfigError(`config.json: "${field}" must be a non-empty string`);
  return value.trim();
}

/** Checks a parsed config.json; throws ConfigError naming the bad field. */
export function parseConfig(raw: unknown): PageConfig {
  if (typeof raw !== "object" || raw === null) throw new ConfigError("config.json is not a JSON object");
  const { apiBaseUrl, auth } = raw as Record<string, unknown>;
  const base = text(apiBaseUrl, "apiBaseUrl", false).replace(/\/+$/, "");
  if (typeof auth !== "object" || auth === null) throw new ConfigError('config.json: "auth" is missing');
  const a = auth as Record<string, unknown>;
  if (a.mode === "dev") return { apiBaseUrl: base, auth: { mode: "dev", tokenUrl: text(a.tokenUrl, "auth.tokenUrl") } };
  if (a.mode === "auth0") {
    return {
      apiBaseUrl: base,
      auth: {
        mode: "auth0",
        domain: text(a.domain, "auth.domain").replace(/^https:\/\//, "").replace(/\/+$/, ""),
        clientId: text(a.clientId, "auth.clientId"),
        audience: text(a.audience, "auth.audience"),
      },
    };
  }
  throw new ConfigError('config.json: "auth.mode" must be "dev" or "auth0"');
}

export async function loadConfig(url = "/config.json"): Promise<PageConfig> {
  let response: Response;
  try {
    response = await fetch(url, { cache: "no-store", headers: { accept: "application/json" } });
  } catch {
    throw new ConfigError("Could not reach the server to load the page's configuration. Check your connection and reload.");
  }
  if (!response.ok) throw new ConfigError(`The page's configuration (${url}) is missing: HTTP ${response.status}. Ask your administrator.`);
  let raw: unknown;
  try {
    raw = await response.json();
  } catch {
    throw new ConfigError(`The page's configuration (${url}) is not JSON. Ask your administrator.`);
  }
  return parseConfig(raw);
}
