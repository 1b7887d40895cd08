import type { Principal } from "#lib/auth.js";
import { invalidArgument, notFound, permissionDenied, resourceExhausted, unauthenticated } from "#lib/errors.js";
import { MAX_OWNER_LENGTH } from "#lib/limits.js";
import type { AppPasswordRecord, AppPasswordStore } from "../ports/app-password-store.js";
import type { AppTokenSigner } from "../ports/app-token-signer.js";
import { DECOY_HASH, generateSecret, hashSecret, parseSecret, verifySecret } from "./app-password-secret.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CONTROL = /\p{Cc}/u;
const MAX_LABEL_LENGTH = 100;
/** Per user: enough for every device, few enough that a list is one page. */
export const MAX_APP_PASSWORDS = 100;
/** One message for every failed exchange, so none tells which part was wrong. */
const INVALID_CREDENTIALS = "invalid user name or app password";

export interface CreatedAppPassword {
  id: string;
  secret: string;
  username: string;
}

/**
 * App passwords: created, listed and revoked by their owner in a session
 * opened by the main issuer (never in one opened with an app password), and
 * exchanged by the WebDAV server (a cfs service identity) for a short-lived
 * token of the app-token issuer.
 */
export class AppPasswords {
  constructor(
    private readonly store: AppPasswordStore,
    private readonly signer: AppTokenSigner,
  ) {}

  async create(caller: Principal, label: string): Promise<CreatedAppPassword> {
    requireSignedIn(caller);
    const trimmed = label.trim();
    if (trimmed === "") throw invalidArgument("label is required");
    if ([...trimmed].length > MAX_LABEL_LENGTH) throw invalidArgument(`label is longer than ${MAX_LABEL_LENGTH} characters`);
    if (CONTROL.test(trimmed)) throw invalidArgument("label must not contain control characters");
    if ((await this.store.count(caller.subject)) >= MAX_APP_PASSWORDS) {
      throw resourceExhausted(`at most ${MAX_APP_PASSWORDS} app passwords per user: revoke one first`);
    }
    // A lookup key is 40 random bits; a collision is drawn again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const secret = generateSecret();
      const stored = await this.store.insert({
        id: crypto.randomUUID(),
        owner: caller.subject,
        label: trimmed,
        lookupKey: secret.lookupKey,
        secretHash: await hashSecret(secret.verifier),
      });
      if (stored) return { id: stored.id, secret: secret.display, username: caller.subject };
    }
    throw new Error("could not draw an unused app password lookup key");
  }

  async list(caller: Principal): Promise<AppPasswordRecord[]> {
    requireSignedIn(caller);
    return this.store.list(caller.subject);
  }

  async revoke(caller: Principal, id: string): Promise<void> {
    requireSignedIn(caller);
    if (!UUID.test(id)) throw invalidArgument("id must be a UUID");
    if (!(await this.store.remove(caller.subject, id.toLowerCase()))) throw notFound("app password not found");
  }

  /** The token for `username` if `secret` is one of its live app passwords; UNAUTHENTICATED otherwise. */
  async exchange(caller: Principal, username: string, secret: string): Promise<{ token: string; expiresAt: Date }> {
    if (!caller.isService) throw permissionDenied("only cfs services may exchange app passwords");
    if (username === "" || username.length > MAX_OWNER_LENGTH) throw unauthenticated(INVALID_CREDENTIALS);
    const parsed = parseSecret(secret);
    const record = parsed ? await this.store.findByLookupKey(parsed.lookupKey) : undefined;
    // The hash is computed whatever was found, so timing tells nothing either.
    const matches = await verifySecret(parsed?.verifier ?? "", record?.secretHash ?? DECOY_HASH);
    if (!record || !matches || record.owner !== username) throw unauthenticated(INVALID_CREDENTIALS);
    await this.store.markUsed(record.id);
    return this.signer.sign(record.owner, record.id);
  }
}

/** App passwords are managed only in a session the main issuer opened: one opened with an app password cannot mint more. */
function requireSignedIn(caller: Principal): void {
  if (caller.appPasswordId !== undefined) throw permissionDenied("app passwords cannot be managed in a session opened with an app password");
  if (caller.isService) throw permissionDenied("app passwords belong to users, not to services");
}
