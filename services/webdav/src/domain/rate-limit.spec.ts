import { describe, expect, it } from "vitest";
import { FailedLoginLimiter } from "./rate-limit.js";

describe("FailedLoginLimiter", () => {
  it("holds up one address for one user, then lets it try again once the window passed", () => {
    let now = 1_000_000;
    const limiter = new FailedLoginLimiter({ windowMs: 60_000, maxPerAddress: 3, maxPerUser: 10 }, () => now);
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfterMs("alice", "10.0.0.1")).toBe(0);
      limiter.recordFailure("alice", "10.0.0.1");
      now += 1000;
    }
    expect(limiter.retryAfterMs("alice", "10.0.0.1")).toBe(57_000);
    expect(limiter.retryAfterMs("alice", "10.0.0.2")).toBe(0);
    expect(limiter.retryAfterMs("bob", "10.0.0.1")).toBe(0);
    now += 57_000;
    expect(limiter.retryAfterMs("alice", "10.0.0.1")).toBe(0);
  });

  it("holds up a user guessed at from many addresses, for the window only", () => {
    let now = 0;
    const limiter = new FailedLoginLimiter({ windowMs: 10_000, maxPerAddress: 100, maxPerUser: 4 }, () => now);
    for (let i = 0; i < 4; i++) limiter.recordFailure("alice", `10.0.0.${i}`);
    expect(limiter.retryAfterMs("alice", "10.9.9.9")).toBe(10_000);
    now = 10_001;
    expect(limiter.retryAfterMs("alice", "10.9.9.9")).toBe(0);
  });
});
