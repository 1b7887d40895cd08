import type { Metadata } from "@grpc/grpc-js";
import { bearerToken, type Principal, type TokenVerifier } from "./auth.js";
import { invalidArgument } from "./errors.js";

export interface Authenticated {
  readonly principal: Principal;
  /** The verified bearer token, forwarded on calls to other cfs services. */
  readonly token: string;
}

/**
 * The first step of every call: the `authorization: Bearer <JWT>` metadata,
 * verified. No token, a bad one, or one that fails verification is
 * UNAUTHENTICATED; two authorization values are refused outright
 * (INVALID_ARGUMENT) rather than letting either one win.
 */
export async function authenticateCall(metadata: Metadata, verify: TokenVerifier): Promise<Authenticated> {
  const values = metadata.get("authorization");
  if (values.length > 1) throw invalidArgument("more than one authorization header");
  const [value] = values;
  const token = bearerToken(typeof value === "string" ? value : undefined);
  return { principal: await verify(token), token };
}
