/** A dead property of a path (its element as XML). */
export interface DeadPropertyRecord {
  path: string;
  namespace: string;
  name: string;
  xml: string;
}

export interface DavLockRecord {
  token: string;
  path: string;
  infinite: boolean;
  exclusive: boolean;
  ownerXml: string;
  expiresAt: Date;
}

/**
 * WebDAV state in PostgreSQL, per owner and by path ("" is the root; "under
 * p" means p itself and every path beginning with p + "/").
 */
export interface DavStateStore {
  /** False when recorded already. */
  createFolder(owner: string, path: string): Promise<boolean>;
  listFolders(owner: string, path: string): Promise<string[]>;
  /** Forgets the folders and dead properties under `path`. */
  removePaths(owner: string, path: string): Promise<void>;
  /** Replaces whatever is under `to` with what is under `from` (kept there too when copying), in one transaction. */
  movePaths(owner: string, from: string, to: string, copy: boolean): Promise<void>;
  getProperties(owner: string, paths: readonly string[]): Promise<DeadPropertyRecord[]>;
  /** Sets, then removes, in one transaction. */
  updateProperties(owner: string, path: string, set: readonly DeadPropertyRecord[], remove: ReadonlyArray<{ namespace: string; name: string }>): Promise<void>;
  /**
   * In one transaction, serialized per owner: the owner's live locks that
   * overlap the new one (on its path, its ancestors, or, when it is
   * infinite, under it) go to `admit`; the lock is stored only if it
   * answers true. Undefined when refused.
   */
  lock(owner: string, lock: DavLockRecord, admit: (overlapping: readonly DavLockRecord[]) => boolean): Promise<DavLockRecord | undefined>;
  /** Undefined when there is no such live lock of the owner. */
  refreshLock(owner: string, token: string, expiresAt: Date): Promise<DavLockRecord | undefined>;
  unlock(owner: string, token: string): Promise<boolean>;
  /** Live locks on `path` and its ancestors, and under it when `descendants`. */
  listLocks(owner: string, path: string, descendants: boolean): Promise<DavLockRecord[]>;
}
