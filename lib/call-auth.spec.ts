import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { TokenVerifier } from "./auth.js";
import { authenticateCall } from "./call-auth.js";
import { unauthenticated } from "./errors.js";

// Signature checks have their own tests (auth.spec.ts); this is what the step does with the metadata.
const verified: string[] = [];
const verify: TokenVerifier = async (token) => {
  verified.push(token);
  if (token !== "good.token") throw unauthenticated("invalid token");
  return { subject: "alice", isService: false };
};

function metadata(...values: string[]): Metadata {
  const md = new Metadata();
  for (const v of values) md.add("authorization", v);
  return md;
}

describe("authenticateCall", () => {
  it("verifies the bearer token and returns who is calling with the token", async () => {
    await expect(authenticateCall(metadata("Bearer good.token"), verify)).resolves.toEqual({
      principal: { subject: "alice", isService: false },
      token: "good.token",
    });
  });

  it("refuses a missing or non-bearer header before verifying anything", async () => {
    verified.length = 0;
    await expect(authenticateCall(metadata(), verify)).rejects.toMatchObject({ kind: "unauthenticated", message: "missing bearer token" });
    await expect(authenticateCall(metadata("Basic YWxpY2U6cHc="), verify)).rejects.toMatchObject({ kind: "unauthenticated" });
    expect(verified).toEqual([]);
  });

  it("passes a verification failure through as UNAUTHENTICATED", async () => {
    await expect(authenticateCall(metadata("Bearer forged.token"), verify)).rejects.toMatchObject({ kind: "unauthenticated", message: "invalid token" });
  });

  it("refuses two authorization values instead of letting either win", async () => {
    verified.length = 0;
    await expect(authenticateCall(metadata("Bearer good.token", "Bearer forged.token"), verify)).rejects.toMatchObject({
      kind: "invalid-argument",
      message: "more than one authorization header",
    });
    expect(verified).toEqual([]);
  });
});
