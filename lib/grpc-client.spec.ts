import type * as grpc from "@grpc/grpc-js";
import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { CfsError } from "./errors.js";
import { boundedDeadline, callUnary, type UnaryMethod } from "./grpc-client.js";

describe("cancellation reaches downstream calls", () => {
  /** A unary method that answers only when cancelled, as grpc-js does (CANCELLED). */
  function pendingMethod() {
    const state = { calls: 0, cancelled: 0, deadline: undefined as grpc.Deadline | undefined };
    const method: UnaryMethod<string, string> = (_request, _metadata, options, callback) => {
      state.calls += 1;
      state.deadline = options.deadline;
      return {
        cancel: () => {
          state.cancelled += 1;
          callback(Object.assign(new Error("cancelled"), { code: status.CANCELLED, details: "Cancelled on client", metadata: new Metadata() }), "");
        },
      } as unknown as grpc.ClientUnaryCall;
    };
    return { method, state };
  }

  it("callUnary cancels the call when the caller's signal aborts, and passes the caller's deadline on", async () => {
    const { method, state } = pendingMethod();
    const abort = new AbortController();
    const deadline = new Date(Date.now() + 5_000);
    const result = callUnary(method, "req", { token: "t", deadline, signal: abort.signal }, "peer Call");
    expect(state.deadline).toBe(deadline);
    abort.abort(new CfsError("deadline-exceeded", "the call ran longer than the server allows (60 s)"));
    await expect(result).rejects.toMatchObject({ kind: "deadline-exceeded" });
    expect(state.cancelled).toBe(1);
  });

  it("callUnary does not start a call for a caller that is already gone", async () => {
    const { method, state } = pendingMethod();
    const abort = new AbortController();
    abort.abort(new CfsError("cancelled", "gone"));
    await expect(callUnary(method, "req", { token: "t", signal: abort.signal }, "peer Call")).rejects.toMatchObject({ kind: "cancelled" });
    expect(state.calls).toBe(0);
  });
});

describe("boundedDeadline", () => {
  it("keeps an earlier caller deadline and caps a later or missing one", () => {
    const soon = new Date(Date.now() + 1000);
    expect(boundedDeadline({ token: "t", deadline: soon }, 60_000)).toBe(soon);
    const capped = boundedDeadline({ token: "t", deadline: new Date(Date.now() + 3_600_000) }, 60_000).getTime();
    expect(capped).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(boundedDeadline({ token: "t" }, 60_000).getTime()).toBeLessThanOrEqual(Date.now() + 60_000);
  });
});
