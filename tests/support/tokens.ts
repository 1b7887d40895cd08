import { base64url, exportJWK, generateKeyPair, SignJWT } from "jose";
import type { DevIssuer } from "../../dev/issuer.js";

/**
 * Tokens every service must refuse with UNAUTHENTICATED, each made with a real
 * signature where a signature is the point.
 */
export async function forgedTokens(issuer: DevIssuer, audience: string): Promise<Array<[string, string]>> {
  const now = Math.floor(Date.now() / 1000);
  const good = (claims: Record<string, unknown> = {}) =>
    new SignJWT({ ...claims }).setProtectedHeader({ alg: "RS256", kid: issuer.kid }).setSubject("alice").setIssuedAt();
  const intruder = await generateKeyPair("RS256");
  const none = `${base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }))}.${base64url.encode(
    JSON.stringify({ sub: "alice", iss: issuer.issuer, aud: audience, exp: now + 300 }),
  )}.`;
  return [
    ["alg none", none],
    [
      "HS256 signed with the public key",
      await new SignJWT({})
        .setProtectedHeader({ alg: "HS256", kid: issuer.kid })
        .setSubject("alice")
        .setIssuer(issuer.issuer)
        .setAudience(audience)
        .setExpirationTime(now + 300)
        .sign(new TextEncoder().encode(JSON.stringify(issuer.publicJwk))),
    ],
    ["wrong issuer", await good().setIssuer("https://evil.example/").setAudience(audience).setExpirationTime(now + 300).sign(issuer.privateKey)],
    ["wrong audience", await good().setIssuer(issuer.issuer).setAudience("https://other.api/").setExpirationTime(now + 300).sign(issuer.privateKey)],
    ["expired", await good().setIssuer(issuer.issuer).setAudience(audience).setExpirationTime(now - 600).sign(issuer.privateKey)],
    ["no exp", await good().setIssuer(issuer.issuer).setAudience(audience).sign(issuer.privateKey)],
    [
      "unknown kid",
      await new SignJWT({})
        .setProtectedHeader({ alg: "RS256", kid: "unknown-kid", jwk: await exportJWK(intruder.publicKey) })
        .setSubject("alice")
        .setIssuer(issuer.issuer)
        .setAudience(audience)
        .setExpirationTime(now + 300)
        .sign(intruder.privateKey),
    ],
    ["garbage", "not.a.jwt"],
  ];
}
