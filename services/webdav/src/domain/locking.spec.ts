import { describe, expect, it } from "vitest";
import type { DavLock } from "../ports/dav-state.js";
import { lockTimeout, locksBearingOn, tokensCovering, unsatisfied } from "./locking.js";

const lock = (path: string, token: string, options: Partial<DavLock> = {}): DavLock => ({
  token,
  path,
  infinite: true,
  exclusive: true,
  ownerXml: "",
  expiresAt: new Date(Date.now() + 60_000),
  ...options,
});

describe("locks", () => {
  const locks = [lock("a", "t-a"), lock("a/b/c", "t-c", { infinite: false }), lock("x", "t-x", { infinite: false }), lock("d", "t-d1", { exclusive: false }), lock("d", "t-d2", { exclusive: false })];

  it("bear on a write through the resource, infinite ancestors, the parent when membership changes, and descendants when asked", () => {
    const none = { changesMembership: false, descendants: false };
    expect(locksBearingOn(locks, "a/b/c", none).map((l) => l.token)).toEqual(["t-a", "t-c"]);
    expect(locksBearingOn(locks, "x/y", none)).toEqual([]);
    expect(locksBearingOn(locks, "x/y", { changesMembership: true, descendants: false }).map((l) => l.token)).toEqual(["t-x"]);
    expect(locksBearingOn(locks, "a/b", { changesMembership: false, descendants: true }).map((l) => l.token)).toEqual(["t-a", "t-c"]);
    expect(tokensCovering(locks, "a/b")).toEqual(new Set(["t-a"]));
  });

  it("need each exclusive lock's token, and one token of shared locks on a root", () => {
    expect(unsatisfied(locks, new Set(["t-a", "t-c", "t-x", "t-d2"]))).toEqual([]);
    expect(unsatisfied(locks, new Set(["t-a", "t-c", "t-x"])).map((l) => l.token)).toEqual(["t-d1", "t-d2"]);
    expect(unsatisfied(locks, new Set(["t-c", "t-x", "t-d1"])).map((l) => l.token)).toEqual(["t-a"]);
  });

  it("take the Timeout header's first usable value, capped", () => {
    expect(lockTimeout("Second-600", 3600, 86400)).toBe(600);
    expect(lockTimeout("Infinite, Second-4100000000", 3600, 86400)).toBe(86400);
    expect(lockTimeout("Second-999999", 3600, 86400)).toBe(86400);
    expect(lockTimeout("bogus", 3600, 86400)).toBe(3600);
    expect(lockTimeout(undefined, 3600, 86400)).toBe(3600);
  });
});
