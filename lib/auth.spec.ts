import { generateKeyPair, SignJWT, exportJWK, base64url } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIssuer, type DevIssuer } from "../dev/issuer.js";
import { bearerToken, createTokenVerifier, parseAuthConfig, remembering, type TokenVerifier } from "./auth.js";

// Real signatures against a real JWKS served over loopback HTTP.
let issuer: DevIssuer;
let verify: TokenVerifier;
const audience = "https://cfs.test/api";

beforeAll(async () => {
  issuer = await startDevIssuer({ audience, serviceClientId: "svc", serviceClientSecret: "secret" });
  verify = createTokenVerifier(parseAuthConfig({ CFS_AUTH_ISSUER: issuer.issuer, CFS_AUTH_AUDIENCE: audience }));
});
afterAll(() => issuer.close());

const sign = (claims: Record<string, unknown>, opts: { iss?: string; aud?: string; exp?: string | number | null; kid?: string } = {}) => {
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: opts.kid ?? issuer.kid })
    .setIssuer(opts.iss ?? issuer.issuer)
    .setAudience(opts.aud ?? audience)
    .setSubject("alice")
    .setIssuedAt();
  if (opts.exp !== null) jwt = jwt.setExpirationTime(opts.exp ?? "5m");
  return jwt.sign(issuer.privateKey);
};

describe("createTokenVerifier", () => {
  it("accepts a valid token and reads the subject", async () => {
    expect(await verify(await issuer.userToken("alice"))).toEqual({ subject: "alice", isService: false });
  });

  it("recognises a service identity by its scope", async () => {
    const res = await fetch(issuer.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "client_credentials", client_id: "svc", client_secret: "secret" }),
    });
    const { access_token } = (await res.json()) as { access_token: string };
    expect(await verify(access_token)).toEqual({ subject: "svc@clients", isService: true });
  });

  it("rejects alg none", async () => {
    const header = base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }));
    const payload = base64url.encode(JSON.stringify({ sub: "alice", iss: issuer.issuer, aud: audience, exp: Math.floor(Date.now() / 1000) + 60 }));
    await expect(verify(`${header}.${payload}.`)).rejects.toMatchObject({ kind: "unauthenticated" });
  });

  it("rejects HS256 signed with the issuer's public key as the secret", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(issuer.publicJwk));
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", kid: issuer.kid })
      .setIssuer(issuer.issuer)
      .setAudience(audience)
      .setSubject("alice")
      .setExpirationTime("5m")
      .sign(secret);
    await expect(verify(token)).rejects.toMatchObject({ kind: "unauthenticated" });
  });

  it.each([
    ["another issuer", { iss: "https://evil.example/" }],
    ["the issuer without its trailing slash", { iss: "ISSUER_NO_SLASH" }],
    ["another audience", { aud: "https://other.api/" }],
    ["an expiry in the past beyond the skew", { exp: Math.floor(Date.now() / 1000) - 120 }],
    ["no exp claim", { exp: null }],
    ["an unknown kid", { kid: "rotated-away" }],
    ["a kid that is a path", { kid: "../../etc/passwd" }],
    ["a 10 KB kid", { kid: "k".repeat(10_000) }],
  ])("rejects a token with %s", async (_, opts) => {
    const options: Parameters<typeof sign>[1] = opts;
    const fixed = options.iss === "ISSUER_NO_SLASH" ? { ...options, iss: issuer.issuer.replace(/\/$/, "") } : options;
    await expect(verify(await sign({}, fixed))).rejects.toMatchObject({ kind: "unauthenticated" });
  });

  it("accepts an expiry inside the clock skew", async () => {
    expect(await verify(await sign({}, { exp: Math.floor(Date.now() / 1000) - 10 }))).toMatchObject({ subject: "alice" });
  });

  it("rejects a token signed by a key that is not in the JWKS, even with an embedded jwk header", async () => {
    const { privateKey, publicKey } = await generateKeyPair("RS256");
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256", kid: issuer.kid, jwk: await exportJWK(publicKey) })
      .setIssuer(issuer.issuer)
      .setAudience(audience)
      .setSubject("alice")
      .setExpirationTime("5m")
      .sign(privateKey);
    await expect(verify(token)).rejects.toMatchObject({ kind: "unauthenticated" });
  });

  it("rejects garbage", async () => {
    for (const garbage of ["", "abc", "a.b.c", "😀.😀.😀"]) {
      await expect(verify(garbage)).rejects.toMatchObject({ kind: "unauthenticated" });
    }
  });

  it("fails closed when the JWKS endpoint is down", async () => {
    const offline = createTokenVerifier(
      parseAuthConfig({ CFS_AUTH_ISSUER: issuer.issuer, CFS_AUTH_AUDIENCE: audience, CFS_AUTH_JWKS_URI: "http://127.0.0.1:9/jwks.json" }),
    );
    await expect(offline(await issuer.userToken("alice"))).rejects.toMatchObject({ kind: "unauthenticated" });
  });
});

describe("bearerToken", () => {
  it("extracts the token and refuses other schemes", () => {
    expect(bearerToken("Bearer abc.def.ghi")).toBe("abc.def.ghi");
    expect(() => bearerToken(undefined)).toThrow(/missing bearer token/);
    expect(() => bearerToken("Basic dXNlcjpwYXNz")).toThrow(/missing bearer token/);
  });
});

describe("createTokenVerifier with the app-token issuer", () => {
  // A second issuer on loopback stands in for the metadata service's JWKS.
  let appIssuer: DevIssuer;
  let both: TokenVerifier;
  beforeAll(async () => {
    appIssuer = await startDevIssuer({ audience, serviceClientId: "x", serviceClientSecret: "y" });
    both = createTokenVerifier(
      parseAuthConfig({ CFS_AUTH_ISSUER: issuer.issuer, CFS_AUTH_AUDIENCE: audience, CFS_APP_TOKEN_JWKS_URI: appIssuer.jwksUri }),
    );
  });
  afterAll(() => appIssuer.close());

  const appToken = (claims: Record<string, unknown>, key = appIssuer.privateKey, kid = appIssuer.kid) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid })
      .setIssuer("urn:cfs:app-passwords")
      .setAudience(audience)
      .setSubject("alice")
      .setExpirationTime("5m")
      .sign(key);

  it("accepts its tokens as app-password sessions, never as a service, and still the main issuer's", async () => {
    expect(await both(await appToken({ cfs_app_password: "ap-1", scope: "cfs:service" }))).toEqual({
      subject: "alice",
      isService: false,
      appPasswordId: "ap-1",
    });
    expect(await both(await issuer.userToken("bob"))).toEqual({ subject: "bob", isService: false });
  });

  it("refuses its tokens without the app-password claim, signed with the main issuer's key, or where it is not configured", async () => {
    await expect(both(await appToken({}))).rejects.toMatchObject({ kind: "unauthenticated" });
    await expect(both(await appToken({ cfs_app_password: "ap-1" }, issuer.privateKey, issuer.kid))).rejects.toMatchObject({ kind: "unauthenticated" });
    await expect(verify(await appToken({ cfs_app_password: "ap-1" }))).rejects.toMatchObject({ kind: "unauthenticated" });
  });
});

describe("remembering", () => {
  const tokenExpiring = (expSeconds: number | undefined, tag = "") =>
    `${base64url.encode(JSON.stringify({ alg: "RS256" }))}.${base64url.encode(JSON.stringify({ sub: "alice", tag, ...(expSeconds === undefined ? {} : { exp: expSeconds }) }))}.sig`;
  const counting = (answer: (token: string) => Promise<{ subject: string; isService: boolean }>) => {
    const calls: string[] = [];
    const verifier: TokenVerifier = (token) => {
      calls.push(token);
      return answer(token);
    };
    return { verifier, calls };
  };
  const alice = { subject: "alice", isService: false };

  it("checks a token once within maxSeconds, again after it", async () => {
    let clock = 1_000_000_000;
    const { verifier, calls } = counting(async () => alice);
    const verify = remembering(verifier, { maxSeconds: 60, maxTokens: 10 }, () => clock);
    const token = tokenExpiring(clock / 1000 + 3600);
    expect(await verify(token)).toEqual(alice);
    clock += 59_000;
    expect(await verify(token)).toEqual(alice);
    expect(calls).toHaveLength(1);
    clock += 2_000;
    await verify(token);
    expect(calls).toHaveLength(2);
  });

  it("never answers from memory past the token's exp", async () => {
    let clock = 1_000_000_000;
    const { verifier, calls } = counting(async () => alice);
    const verify = remembering(verifier, { maxSeconds: 60, maxTokens: 10 }, () => clock);
    const token = tokenExpiring(clock / 1000 + 5);
    await verify(token);
    clock += 6_000;
    await verify(token);
    expect(calls).toHaveLength(2);
  });

  it("does not remember a refusal, nor a token without exp", async () => {
    const refusing = counting(async () => Promise.reject(new Error("invalid token")));
    const verify = remembering(refusing.verifier, { maxSeconds: 60, maxTokens: 10 });
    const token = tokenExpiring(Date.now() / 1000 + 3600);
    await expect(verify(token)).rejects.toThrow("invalid token");
    await expect(verify(token)).rejects.toThrow("invalid token");
    expect(refusing.calls).toHaveLength(2);

    const accepting = counting(async () => alice);
    const noExp = remembering(accepting.verifier, { maxSeconds: 60, maxTokens: 10 });
    await noExp(tokenExpiring(undefined));
    await noExp(tokenExpiring(undefined));
    expect(accepting.calls).toHaveLength(2);
  });

  it("keeps only the maxTokens most recently used", async () => {
    const { verifier, calls } = counting(async () => alice);
    const verify = remembering(verifier, { maxSeconds: 60, maxTokens: 2 });
    const [a, b, c] = ["a", "b", "c"].map((tag) => tokenExpiring(Date.now() / 1000 + 3600, tag));
    await verify(a!);
    await verify(b!);
    await verify(a!); // a is now the most recent
    await verify(c!); // evicts b
    expect(calls).toEqual([a, b, c]);
    await verify(a!);
    await verify(b!);
    expect(calls).toEqual([a, b, c, b]);
  });
});
