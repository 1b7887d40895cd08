import { describe, expect, it } from "vitest";
import { parseAuthConfig } from "./auth.js";
import { bool, ConfigError, deepFreeze, int, port, str, url } from "./config.js";
import { parseServerConfig } from "./service.js";

describe("config helpers", () => {
  it("fail fast on a missing required value", () => {
    expect(() => str({}, "CFS_X")).toThrow(new ConfigError("missing required environment variable CFS_X"));
    expect(str({ CFS_X: "" }, "CFS_X", "d")).toBe("d");
  });

  it("parse integers within bounds", () => {
    expect(int({ N: "42" }, "N", 1)).toBe(42);
    expect(int({}, "N", 7)).toBe(7);
    expect(() => int({ N: "4x" }, "N", 1)).toThrow(/integer/);
    expect(() => int({ N: "5" }, "N", 1, 10)).toThrow(/between/);
    expect(() => port({ P: "70000" }, "P", 1)).toThrow(/between 0 and 65535/);
  });

  it("parse booleans and URLs strictly", () => {
    expect(bool({ B: "true" }, "B", false)).toBe(true);
    expect(bool({ B: "0" }, "B", true)).toBe(false);
    expect(() => bool({ B: "maybe" }, "B", true)).toThrow(/true or false/);
    expect(() => url({ U: "not a url" }, "U")).toThrow(/must be a URL/);
  });

  it("freeze the parsed object deeply", () => {
    const frozen = deepFreeze({ a: { b: 1 } });
    expect(Object.isFrozen(frozen.a)).toBe(true);
  });
});

describe("parseServerConfig", () => {
  it("uses the service's default ports unless overridden", () => {
    expect(parseServerConfig({}, 8002, 9102)).toMatchObject({ host: "127.0.0.1", port: 8002, metricsPort: 9102 });
    expect(parseServerConfig({ CFS_PORT: "0", CFS_HOST: "0.0.0.0" }, 8002, 9102)).toMatchObject({ host: "0.0.0.0", port: 0 });
  });
});

describe("parseAuthConfig", () => {
  const base = { CFS_AUTH_ISSUER: "https://tenant.eu.auth0.com/", CFS_AUTH_AUDIENCE: "https://cfs.example/api" };

  it("derives the JWKS URI from the issuer like Auth0 publishes it", () => {
    expect(parseAuthConfig(base).jwksUri).toBe("https://tenant.eu.auth0.com/.well-known/jwks.json");
    expect(parseAuthConfig({ ...base, CFS_AUTH_ISSUER: "https://idp.example/realms/x" }).jwksUri).toBe(
      "https://idp.example/realms/x/.well-known/jwks.json",
    );
  });

  it("requires issuer and audience", () => {
    expect(() => parseAuthConfig({ CFS_AUTH_AUDIENCE: "a" })).toThrow(/CFS_AUTH_ISSUER/);
    expect(() => parseAuthConfig({ CFS_AUTH_ISSUER: "https://i/" })).toThrow(/CFS_AUTH_AUDIENCE/);
  });

  it("accepts only asymmetric algorithms", () => {
    expect(() => parseAuthConfig({ ...base, CFS_AUTH_ALGORITHMS: "RS256,HS256" })).toThrow(/HS256/);
    expect(parseAuthConfig({ ...base, CFS_AUTH_ALGORITHMS: "ES256" }).algorithms).toEqual(["ES256"]);
  });
});
