import type { DavLock } from "../ports/dav-state.js";
import { isUnder, parentOf } from "./paths.js";

export interface WriteScope {
  /** The request adds or removes `path` as a member of its parent (PUT of a new file, DELETE, MKCOL, MOVE). */
  changesMembership: boolean;
  /** The request changes everything under `path` (DELETE, MOVE of a collection, COPY onto one). */
  descendants: boolean;
}

/**
 * The locks a write to `path` must hold a token of (RFC 4918 7): locks
 * rooted at it, depth-infinity locks above it, the parent's lock when its
 * membership changes, and locks under it when the write reaches there.
 */
export function locksBearingOn(locks: readonly DavLock[], path: string, scope: WriteScope): DavLock[] {
  const parent = path === "" ? undefined : parentOf(path);
  return locks.filter(
    (l) =>
      l.path === path ||
      (l.infinite && isUnder(path, l.path)) ||
      (scope.changesMembership && l.path === parent) ||
      (scope.descendants && isUnder(l.path, path)),
  );
}

/**
 * The locks whose token the request did not submit: every exclusive lock
 * needs its own token; shared locks on the same root are satisfied by any
 * one of theirs.
 */
export function unsatisfied(locks: readonly DavLock[], submitted: ReadonlySet<string>): DavLock[] {
  const sharedRoots = new Map<string, DavLock[]>();
  const missing: DavLock[] = [];
  for (const lock of locks) {
    if (lock.exclusive) {
      if (!submitted.has(lock.token)) missing.push(lock);
    } else {
      sharedRoots.set(lock.path, [...(sharedRoots.get(lock.path) ?? []), lock]);
    }
  }
  for (const group of sharedRoots.values()) if (!group.some((l) => submitted.has(l.token))) missing.push(...group);
  return missing;
}

/** The tokens of locks that cover `path` (for If header state-token conditions). */
export function tokensCovering(locks: readonly DavLock[], path: string): Set<string> {
  return new Set(locks.filter((l) => l.path === path || (l.infinite && isUnder(path, l.path))).map((l) => l.token));
}

/** The Timeout header's first acceptable value in seconds (RFC 4918 10.7), capped. */
export function lockTimeout(header: string | undefined, fallback: number, max: number): number {
  for (const part of (header ?? "").split(",").map((p) => p.trim())) {
    if (/^infinite$/i.test(part)) return max;
    const match = /^second-(\d+)$/i.exec(part);
    if (match) return Math.min(max, Math.max(1, Number(match[1])));
  }
  return fallback;
}
