import { randomUUID } from "node:crypto";
import { invalidArgument, notFound, CfsError } from "#lib/errors.js";
import type { DavLockRecord, DavStateStore, DeadPropertyRecord } from "../ports/dav-state-store.js";
import { normalizeName } from "#lib/file-names.js";

/** Locks last at most a day; clients refresh them (RFC 4918 allows the server to choose). */
export const MAX_LOCK_SECONDS = 86_400;
const MAX_PATHS_PER_CALL = 1000;
/** A dead property's XML, and the names in it. */
const MAX_PROPERTY_BYTES = 64 * 1024;
const MAX_NAME_LENGTH = 1024;
const MAX_OWNER_XML_BYTES = 16 * 1024;

export type NewLock = Omit<DavLockRecord, "token" | "expiresAt"> & { timeoutSeconds: number };

/**
 * Whether a lock may be taken beside the live locks that overlap it: an
 * exclusive lock conflicts with any, a shared one with exclusive ones.
 */
export function admits(requested: { exclusive: boolean }, overlapping: readonly DavLockRecord[]): boolean {
  return overlapping.every((held) => !held.exclusive && !requested.exclusive);
}

/** "" (the root) or a file name's canonical form. */
export function checkDavPath(path: string): string {
  return path === "" ? "" : normalizeName(path);
}

/**
 * DavStateService's rules: paths in file names' form, bounded property and
 * lock sizes, lock conflicts decided in the store's transaction. The owner
 * is always the caller's token subject.
 */
export class DavState {
  constructor(private readonly store: DavStateStore) {}

  createFolder(owner: string, path: string): Promise<boolean> {
    const folder = checkDavPath(path);
    if (folder === "") throw invalidArgument("the root always exists");
    return this.store.createFolder(owner, folder);
  }

  listFolders(owner: string, path: string): Promise<string[]> {
    return this.store.listFolders(owner, checkDavPath(path));
  }

  removePaths(owner: string, path: string): Promise<void> {
    return this.store.removePaths(owner, checkDavPath(path));
  }

  movePaths(owner: string, from: string, to: string, copy: boolean): Promise<void> {
    const source = checkDavPath(from);
    const target = checkDavPath(to);
    if (source === "" || target === "") throw invalidArgument("the root cannot be moved or replaced");
    if (target === source || target.startsWith(`${source}/`) || (!copy && source.startsWith(`${target}/`))) {
      throw invalidArgument("a path cannot be moved into itself");
    }
    return this.store.movePaths(owner, source, target, copy);
  }

  getProperties(owner: string, paths: readonly string[]): Promise<DeadPropertyRecord[]> {
    if (paths.length > MAX_PATHS_PER_CALL) throw invalidArgument(`at most ${MAX_PATHS_PER_CALL} paths per call`);
    return this.store.getProperties(owner, paths.map(checkDavPath));
  }

  updateProperties(owner: string, path: string, set: readonly DeadPropertyRecord[], remove: ReadonlyArray<{ namespace: string; name: string }>): Promise<void> {
    const at = checkDavPath(path);
    for (const p of [...set, ...remove]) {
      if (p.name === "" || p.name.length > MAX_NAME_LENGTH || p.namespace.length > MAX_NAME_LENGTH) throw invalidArgument("bad property name");
    }
    for (const p of set) {
      if (Buffer.byteLength(p.xml) > MAX_PROPERTY_BYTES) throw invalidArgument(`a property is larger than ${MAX_PROPERTY_BYTES} bytes`);
    }
    return this.store.updateProperties(owner, at, set.map((p) => ({ ...p, path: at })), remove);
  }

  async lock(owner: string, request: NewLock): Promise<DavLockRecord> {
    const lock: DavLockRecord = {
      token: `urn:uuid:${randomUUID()}`,
      path: checkDavPath(request.path),
      infinite: request.infinite,
      exclusive: request.exclusive,
      ownerXml: request.ownerXml,
      expiresAt: expiry(request.timeoutSeconds),
    };
    if (Buffer.byteLength(lock.ownerXml) > MAX_OWNER_XML_BYTES) throw invalidArgument(`the lock owner is larger than ${MAX_OWNER_XML_BYTES} bytes`);
    const taken = await this.store.lock(owner, lock, (overlapping) => admits(lock, overlapping));
    if (!taken) throw new CfsError("already-exists", "the resource is locked");
    return taken;
  }

  async refreshLock(owner: string, token: string, timeoutSeconds: number): Promise<DavLockRecord> {
    const lock = await this.store.refreshLock(owner, token, expiry(timeoutSeconds));
    if (!lock) throw notFound("no such lock");
    return lock;
  }

  async unlock(owner: string, token: string): Promise<void> {
    if (!(await this.store.unlock(owner, token))) throw notFound("no such lock");
  }

  listLocks(owner: string, path: string, descendants: boolean): Promise<DavLockRecord[]> {
    return this.store.listLocks(owner, checkDavPath(path), descendants);
  }
}

function expiry(timeoutSeconds: number): Date {
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > MAX_LOCK_SECONDS) {
    throw invalidArgument(`timeout_seconds must be from 1 to ${MAX_LOCK_SECONDS}`);
  }
  return new Date(Date.now() + timeoutSeconds * 1000);
}
