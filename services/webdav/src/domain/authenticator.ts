import { createHash } from "node:crypto";
import type { TokenVerifier } from "#lib/auth.js";
import { CfsError } from "#lib/errors.js";
import type { CredentialExchange } from "../ports/credentials.js";
import type { FailedLoginLimiter } from "./rate-limit.js";

export type AuthOutcome =
  | { ok: true; user: string; token: string }
  | { ok: false; status: 401; message: string }
  | { ok: false; status: 429; retryAfterSeconds: number; message: string };

interface Verified {
  user: string;
  token: string;
  tokenExpiresAt: number;
  verifiedAt: number;
}

/** Tokens this close to expiring are exchanged again rather than used. */
const TOKEN_MARGIN_MS = 30_000;
const MAX_CACHED = 10_000;

/**
 * WebDAV's two ways in, and nothing else: `Basic base64(user:app-password)`
 * (exchanged at the metadata service for a short-lived token, and cached by
 * a hash of the pair for `cacheMs` so a burst of requests costs one
 * exchange; a revoked password stops working within that time) and
 * `Bearer <JWT>` (verified like every service does). Failed Basic logins
 * are rate-limited per user and address.
 */
export class Authenticator {
  private readonly cache = new Map<string, Verified>();

  constructor(
    private readonly verifyToken: TokenVerifier,
    private readonly exchange: CredentialExchange,
    private readonly limiter: FailedLoginLimiter,
    private readonly cacheMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async authenticate(header: string | undefined, address: string): Promise<AuthOutcome> {
    const [scheme = "", value = ""] = (header ?? "").trim().split(/\s+/, 2);
    if (/^bearer$/i.test(scheme) && value) return this.bearer(value);
    if (/^basic$/i.test(scheme) && value) return this.basic(value, address);
    return { ok: false, status: 401, message: "authentication required: HTTP Basic with an app password, or a bearer token" };
  }

  private async bearer(token: string): Promise<AuthOutcome> {
    try {
      const principal = await this.verifyToken(token);
      if (principal.isService) return { ok: false, status: 401, message: "a service identity has no files" };
      return { ok: true, user: principal.subject, token };
    } catch (err) {
      if (err instanceof CfsError && err.kind === "unauthenticated") return { ok: false, status: 401, message: err.message };
      throw err;
    }
  }

  private async basic(encoded: string, address: string): Promise<AuthOutcome> {
    const decoded = Buffer.from(encoded, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) return { ok: false, status: 401, message: "malformed Basic credentials" };
    const user = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    const key = createHash("sha256").update(user).update("\0").update(secret).digest("hex");
    const now = this.now();
    const cached = this.cache.get(key);
    // A session verified a moment ago goes on, even while guesses hold up new logins.
    if (cached && now - cached.verifiedAt < this.cacheMs && cached.tokenExpiresAt - now > TOKEN_MARGIN_MS) {
      return { ok: true, user: cached.user, token: cached.token };
    }
    this.cache.delete(key);
    const waitMs = this.limiter.retryAfterMs(user, address);
    if (waitMs > 0) {
      return { ok: false, status: 429, retryAfterSeconds: Math.ceil(waitMs / 1000), message: "too many failed logins: try again later" };
    }
    const exchanged = await this.exchange.exchange(user, secret);
    if (!exchanged) {
      this.limiter.recordFailure(user, address);
      return { ok: false, status: 401, message: "invalid user name or app password" };
    }
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { user, token: exchanged.token, tokenExpiresAt: exchanged.expiresAt.getTime(), verifiedAt: now });
    return { ok: true, user, token: exchanged.token };
  }

  /** Forgets a cached session whose token a service refused (e.g. after a key rotation). */
  forget(token: string): void {
    for (const [key, entry] of this.cache) if (entry.token === token) this.cache.delete(key);
  }
}
