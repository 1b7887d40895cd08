/** Exchanges a user's app password for a short-lived access token (metadata's AppPasswordService). */
export interface CredentialExchange {
  /** Undefined when the user name and password do not match a live app password. */
  exchange(username: string, secret: string): Promise<{ token: string; expiresAt: Date } | undefined>;
}
