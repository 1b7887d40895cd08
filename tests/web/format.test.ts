import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../web/src/config.js";
import { formatBytes } from "#lib/bytes.js";
import { describeFailure, int64, syncSettled, syncState, timestamp } from "../../web/src/format.js";

// The web page's pure helpers (the page itself is tested in a browser: page.test.ts).

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [5 * 1024 * 1024, "5.0 MiB"],
    [150 * 1024 * 1024, "150 MiB"],
    [64 * 1024 ** 3, "64.0 GiB"],
    [-1, "—"],
  ])("%d bytes -> %s", (bytes, text) => expect(formatBytes(bytes)).toBe(text));
});

describe("proto3 JSON values", () => {
  it("reads int64 strings and numbers", () => {
    expect(int64("5242880")).toBe(5242880);
    expect(int64(7)).toBe(7);
    expect(int64(undefined)).toBe(0);
    expect(int64("12abc")).toBe(0);
  });
  it("reads RFC 3339 timestamps", () => {
    expect(timestamp("2026-01-02T03:04:05.678Z")?.toISOString()).toBe("2026-01-02T03:04:05.678Z");
    expect(timestamp("")).toBeUndefined();
    expect(timestamp("yesterday")).toBeUndefined();
  });
  it("reads sync statuses by enum name or number", () => {
    expect(syncState("EVENT_STATUS_COMPLETED")).toBe("completed");
    expect(syncState("EVENT_STATUS_PENDING")).toBe("pending");
    expect(syncState(2)).toBe("processing");
    expect(syncState(4)).toBe("failed");
    expect(syncState("EVENT_STATUS_UNSPECIFIED")).toBe("unknown");
    expect(syncSettled("completed") && syncSettled("failed") && !syncSettled("pending")).toBe(true);
  });
});

describe("describeFailure", () => {
  it("says what to do", () => {
    expect(describeFailure(0, "")).toMatch(/Could not reach the server/);
    expect(describeFailure(400, "name must not contain a backslash")).toBe("The server refused the request: name must not contain a backslash.");
    expect(describeFailure(401, "jwt expired")).toBe("Your session has ended. Sign in again.");
    expect(describeFailure(503, "upstream down")).toMatch(/unavailable right now/);
    // Internal details of a 500 are not shown.
    expect(describeFailure(500, "stack trace")).not.toMatch(/stack trace/);
  });
});

describe("parseConfig", () => {
  it("takes dev and auth0 configurations", () => {
    expect(parseConfig({ apiBaseUrl: "", auth: { mode: "dev", tokenUrl: "http://127.0.0.1:8090/dev/token" } })).toEqual({
      apiBaseUrl: "",
      auth: { mode: "dev", tokenUrl: "http://127.0.0.1:8090/dev/token" },
    });
    expect(
      parseConfig({
        apiBaseUrl: "https://api.example.com/",
        auth: { mode: "auth0", domain: "https://tenant.eu.auth0.com/", clientId: "abc", audience: "https://cfs.example.com" },
      }),
    ).toEqual({
      apiBaseUrl: "https://api.example.com",
      auth: { mode: "auth0", domain: "tenant.eu.auth0.com", clientId: "abc", audience: "https://cfs.example.com" },
    });
  });
  it("names what is wrong", () => {
    expect(() => parseConfig(null)).toThrow(ConfigError);
    expect(() => parseConfig({ auth: { mode: "auth0", domain: "t.auth0.com", audience: "a" } })).toThrow(/auth\.clientId/);
    expect(() => parseConfig({ auth: { mode: "saml" } })).toThrow(/"dev" or "auth0"/);
    expect(() => parseConfig({ apiBaseUrl: 3, auth: { mode: "dev", tokenUrl: "x" } })).toThrow(/apiBaseUrl/);
  });
});
