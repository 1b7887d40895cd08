import { EventEmitter } from "node:events";
import type { Deadline } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startCallLifetime, untilAborted } from "./call-lifetime.js";

/** A grpc-js server call as far as the lifetime step sees it. grpc-js gives Infinity for "no deadline". */
function fakeCall(deadline: Deadline = Infinity) {
  return Object.assign(new EventEmitter(), { getDeadline: () => deadline });
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("startCallLifetime", () => {
  it("gives a call without a client deadline the server's cap, and ends it there with DEADLINE_EXCEEDED for the client", () => {
    const lifetime = startCallLifetime(fakeCall(), 60_000);
    expect(lifetime.deadline.getTime()).toBe(Date.now() + 60_000);
    vi.advanceTimersByTime(59_999);
    expect(lifetime.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(lifetime.signal.reason).toMatchObject({ kind: "deadline-exceeded", message: expect.stringContaining("60 s") });
    // The client is still waiting: the handler owes it this status.
    expect(lifetime.clientGone).toBe(false);
  });

  it("keeps an earlier client deadline (grpc-js answers it by itself)", () => {
    const clientDeadline = Date.now() + 5_000;
    const lifetime = startCallLifetime(fakeCall(clientDeadline), 60_000);
    expect(lifetime.deadline.getTime()).toBe(clientDeadline);
    vi.advanceTimersByTime(5_000);
    expect(lifetime.signal.reason).toMatchObject({ kind: "deadline-exceeded" });
    expect(lifetime.clientGone).toBe(true);
  });

  it("caps a client deadline later than the server allows (a Date deadline too)", () => {
    const lifetime = startCallLifetime(fakeCall(new Date(Date.now() + 3_600_000)), 60_000);
    expect(lifetime.deadline.getTime()).toBe(Date.now() + 60_000);
  });

  it("aborts with CANCELLED when the client cancels, and then nobody waits for an answer", () => {
    const call = fakeCall();
    const lifetime = startCallLifetime(call, 60_000);
    call.emit("cancelled");
    expect(lifetime.signal.reason).toMatchObject({ kind: "cancelled" });
    expect(lifetime.clientGone).toBe(true);
    // The cap no longer fires once the call is cancelled.
    vi.advanceTimersByTime(60_000);
    expect(lifetime.signal.reason).toMatchObject({ kind: "cancelled" });
  });

  it("reads grpc-js's cancellation at the client's deadline as DEADLINE_EXCEEDED", () => {
    const call = fakeCall(Date.now() + 1_000);
    const lifetime = startCallLifetime(call, 60_000);
    vi.setSystemTime(Date.now() + 1_000);
    call.emit("cancelled");
    expect(lifetime.signal.reason).toMatchObject({ kind: "deadline-exceeded" });
  });

  it("ignores the cancellation grpc-js reports after every answer", () => {
    const call = fakeCall();
    const lifetime = startCallLifetime(call, 60_000);
    lifetime.end();
    call.emit("cancelled");
    vi.advanceTimersByTime(120_000);
    expect(lifetime.signal.aborted).toBe(false);
    expect(lifetime.clientGone).toBe(false);
  });
});

describe("untilAborted", () => {
  it("settles with the work while the signal stays quiet", async () => {
    await expect(untilAborted(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
    await expect(untilAborted(Promise.reject(new Error("no")), new AbortController().signal)).rejects.toThrow("no");
  });

  it("rejects with the abort reason at once, without waiting for the work", async () => {
    const abort = new AbortController();
    const pending = untilAborted(new Promise(() => undefined), abort.signal);
    abort.abort(new Error("deadline"));
    await expect(pending).rejects.toThrow("deadline");
    await expect(untilAborted(Promise.resolve(1), abort.signal)).rejects.toThrow("deadline");
  });
});
