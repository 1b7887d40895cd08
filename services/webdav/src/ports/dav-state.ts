import type { CallIdentity } from "#lib/grpc-client.js";

export interface DeadProperty {
  path: string;
  namespace: string;
  name: string;
  xml: string;
}

export interface DavLock {
  token: string;
  path: string;
  infinite: boolean;
  exclusive: boolean;
  ownerXml: string;
  expiresAt: Date;
}

/** Folders, dead properties and locks (the metadata service's DavStateService). */
export interface DavStateStore {
  createFolder(path: string, as: CallIdentity): Promise<boolean>;
  listFolders(path: string, as: CallIdentity): Promise<string[]>;
  removePaths(path: string, as: CallIdentity): Promise<void>;
  movePaths(from: string, to: string, copy: boolean, as: CallIdentity): Promise<void>;
  getProperties(paths: readonly string[], as: CallIdentity): Promise<DeadProperty[]>;
  updateProperties(path: string, set: readonly DeadProperty[], remove: ReadonlyArray<{ namespace: string; name: string }>, as: CallIdentity): Promise<void>;
  /** Undefined when a conflicting lock is held. */
  lock(lock: Omit<DavLock, "token" | "expiresAt"> & { timeoutSeconds: number }, as: CallIdentity): Promise<DavLock | undefined>;
  refreshLock(token: string, timeoutSeconds: number, as: CallIdentity): Promise<DavLock | undefined>;
  unlock(token: string, as: CallIdentity): Promise<boolean>;
  listLocks(path: string, descendants: boolean, as: CallIdentity): Promise<DavLock[]>;
}
