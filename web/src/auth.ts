import type { AuthConfig } from "./config.js";

/**
 * Sign-in. Auth0: the SPA SDK (authorization code with PKCE, tokens for the
 * API's audience, silent renewal). Dev (`make run`): the dev issuer hands a
 * token to any user name; the page keeps it for the tab's session and fetches
 * a new one when it expires.
 */
export interface Session {
  /** Who is signed in, for display. */
  user: string;
  /** A valid access token for the API. */
  token(): Promise<string>;
  signOut(): Promise<void>;
}

export interface Authenticator {
  mode: AuthConfig["mode"];
  /** The session that survives a reload or comes back from the login redirect. */
  restore(): Promise<Session | undefined>;
  /** Dev: signs in as `user`. Auth0: redirects to the login page (never resolves with a session). */
  signIn(user?: string): Promise<Session | undefined>;
}

export class SignInError extends Error {}

export function createAuthenticator(config: AuthConfig): Authenticator {
  return config.mode === "dev" ? devAuthenticator(config.tokenUrl) : auth0Authenticator(config);
}

// ---- dev issuer ------------------------------------------------------------------------

const DEV_KEY = "cfs.dev-session";
export const DEV_USER_PATTERN = "[A-Za-z0-9._@|\\-]{1,128}";

interface DevToken {
  user: string;
  token: string;
  expiresAt: number;
}

function devAuthenticator(tokenUrl: string): Authenticator {
  const fetchToken = async (user: string): Promise<DevToken> => {
    const url = new URL(tokenUrl, location.href);
    url.searchParams.set("sub", user);
    let response: Response;
    try {
      response = await fetch(url, { cache: "no-store" });
    } catch {
      throw new SignInError(`Could not reach the token issuer at ${url.origin}. Is \`make run\` running?`);
    }
    const body = (await response.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string };
    if (!response.ok || !body.access_token) throw new SignInError(body.error ? `Sign-in refused: ${body.error}` : `Sign-in failed (HTTP ${response.status}).`);
    const stored = { user, token: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 300) * 1000 };
    sessionStorage.setItem(DEV_KEY, JSON.stringify(stored));
    return stored;
  };

  const session = (initial: DevToken): Session => {
    let current = initial;
    return {
      user: current.user,
      async token() {
        // Renew a minute before expiry; the dev issuer gives a token to any name.
        if (current.expiresAt - Date.now() < 60_000) current = await fetchToken(current.user);
        return current.token;
      },
      async signOut() {
        sessionStorage.removeItem(DEV_KEY);
      },
    };
  };

  return {
    mode: "dev",
    async restore() {
      try {
        const stored = JSON.parse(sessionStorage.getItem(DEV_KEY) ?? "null") as DevToken | null;
        return stored?.user && stored.token ? session(stored) : undefined;
      } catch {
        return undefined;
      }
    },
    async signIn(user = "") {
      const name = user.trim();
      if (!new RegExp(`^${DEV_USER_PATTERN}$`).test(name)) {
        throw new SignInError("Use 1 to 128 letters, digits or . _ @ | - for the user name.");
      }
      return session(await fetchToken(name));
    },
  };
}

// ---- Auth0 -----------------------------------------------------------------------------

function auth0Authenticator(config: Extract<AuthConfig, { mode: "auth0" }>): Authenticator {
  const redirectUri = `${location.origin}/`;
  // Loaded only in this mode: the dev page does not carry the SDK.
  const client = import("@auth0/auth0-spa-js").then(({ createAuth0Client }) =>
    createAuth0Client({
      domain: config.domain,
      clientId: config.clientId,
      authorizationParams: { audience: config.audience, redirect_uri: redirectUri },
    }),
  );

  const session = async (): Promise<Session | undefined> => {
    const auth0 = await client;
    if (!(await auth0.isAuthenticated())) return undefined;
    const user = await auth0.getUser();
    return {
      user: user?.name ?? user?.email ?? user?.sub ?? "signed in",
      token: async () => {
        const token = await auth0.getTokenSilently({ authorizationParams: { audience: config.audience } });
        if (!token) throw new SignInError("No access token for the API: sign in again.");
        return token;
      },
      signOut: () => auth0.logout({ logoutParams: { returnTo: redirectUri } }),
    };
  };

  return {
    mode: "auth0",
    async restore() {
      const auth0 = await client;
      const params = new URLSearchParams(location.search);
      if (params.has("state") && (params.has("code") || params.has("error"))) {
        try {
          await auth0.handleRedirectCallback();
        } catch (err) {
          throw new SignInError(`Sign-in did not complete: ${(err as Error).message}`);
        } finally {
          history.replaceState(null, "", location.pathname);
        }
      }
      return session();
    },
    async signIn() {
      const auth0 = await client;
      await auth0.loginWithRedirect();
      return undefined;
    },
  };
}
