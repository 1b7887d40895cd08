import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { calculateJwkThumbprint, exportJWK, SignJWT, type JWK } from "jose";
import { APP_PASSWORD_CLAIM } from "#lib/auth.js";
import type { AppTokenSigner } from "../ports/app-token-signer.js";

const ALG = "ES256";

export interface AppTokenKey {
  privateKey: KeyObject;
  /** The public half as served in the JWKS, with its kid (the RFC 7638 thumbprint). */
  publicJwk: JWK & { kid: string };
}

/**
 * The signing key of the app-token issuer: an EC P-256 private key in PEM
 * (CFS_APP_TOKEN_KEY_FILE; the chart generates one into a Secret, shared by
 * every metadata replica), or, without a file, a key made at start-up that
 * lives as long as the process (one replica only: another replica could not
 * verify its tokens).
 */
export async function loadAppTokenKey(keyFile: string | undefined): Promise<AppTokenKey> {
  const privateKey = keyFile
    ? createPrivateKey(await readFile(keyFile, "utf8"))
    : generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error("CFS_APP_TOKEN_KEY_FILE must hold an EC P-256 private key (PEM)");
  }
  const jwk = await exportJWK(createPublicKey(privateKey));
  return { privateKey, publicJwk: { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: ALG, use: "sig" } };
}

/** Short-lived ES256 tokens: iss the app-token issuer, aud the API, sub the user, cfs_app_password the password's id. */
export class JoseAppTokenSigner implements AppTokenSigner {
  constructor(
    private readonly key: AppTokenKey,
    private readonly claims: { issuer: string; audience: string; ttlSeconds: number },
  ) {}

  async sign(subject: string, appPasswordId: string): Promise<{ token: string; expiresAt: Date }> {
    const now = Math.floor(Date.now() / 1000);
    const expires = now + this.claims.ttlSeconds;
    const token = await new SignJWT({ [APP_PASSWORD_CLAIM]: appPasswordId })
      .setProtectedHeader({ alg: ALG, kid: this.key.publicJwk.kid, typ: "JWT" })
      .setIssuer(this.claims.issuer)
      .setAudience(this.claims.audience)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(expires)
      .sign(this.key.privateKey);
    return { token, expiresAt: new Date(expires * 1000) };
  }
}
