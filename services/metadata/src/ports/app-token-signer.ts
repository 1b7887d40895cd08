/** Signs the short-lived access tokens an app password is exchanged for. */
export interface AppTokenSigner {
  sign(subject: string, appPasswordId: string): Promise<{ token: string; expiresAt: Date }>;
}
