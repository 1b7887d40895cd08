import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import { DavStateServiceClient, LockScope, type DavLock as DavLockMessage } from "#gen/cfs/metadata/v1/dav_state.js";
import { CfsError } from "#lib/errors.js";
import { callUnary, type CallIdentity } from "#lib/grpc-client.js";
import type { DavLock, DavStateStore, DeadProperty } from "../ports/dav-state.js";

/** The metadata service's DavStateService over gRPC, acting with the user's token. */
export class GrpcDavState implements DavStateStore {
  readonly client: DavStateServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new DavStateServiceClient(address, credentials.createInsecure(), options);
  }

  async createFolder(path: string, as: CallIdentity): Promise<boolean> {
    return (await callUnary(this.client.createFolder.bind(this.client), { path }, as, "metadata CreateFolder")).created;
  }

  async listFolders(path: string, as: CallIdentity): Promise<string[]> {
    return (await callUnary(this.client.listFolders.bind(this.client), { path }, as, "metadata ListFolders")).paths;
  }

  async removePaths(path: string, as: CallIdentity): Promise<void> {
    await callUnary(this.client.removePaths.bind(this.client), { path }, as, "metadata RemovePaths");
  }

  async movePaths(from: string, to: string, copy: boolean, as: CallIdentity): Promise<void> {
    await callUnary(this.client.movePaths.bind(this.client), { from, to, copy }, as, "metadata MovePaths");
  }

  async getProperties(paths: readonly string[], as: CallIdentity): Promise<DeadProperty[]> {
    const found: DeadProperty[] = [];
    for (let i = 0; i < paths.length; i += 1000) {
      const batch = paths.slice(i, i + 1000);
      found.push(...(await callUnary(this.client.getProperties.bind(this.client), { paths: batch }, as, "metadata GetProperties")).properties);
    }
    return found;
  }

  async updateProperties(path: string, set: readonly DeadProperty[], remove: ReadonlyArray<{ namespace: string; name: string }>, as: CallIdentity): Promise<void> {
    await callUnary(this.client.updateProperties.bind(this.client), { path, set: [...set], remove: [...remove] }, as, "metadata UpdateProperties");
  }

  async lock(lock: Omit<DavLock, "token" | "expiresAt"> & { timeoutSeconds: number }, as: CallIdentity): Promise<DavLock | undefined> {
    const request = {
      path: lock.path,
      infinite: lock.infinite,
      scope: lock.exclusive ? LockScope.LOCK_SCOPE_EXCLUSIVE : LockScope.LOCK_SCOPE_SHARED,
      ownerXml: lock.ownerXml,
      timeoutSeconds: lock.timeoutSeconds,
    };
    try {
      return toLock((await callUnary(this.client.lock.bind(this.client), request, as, "metadata Lock")).lock);
    } catch (err) {
      if (err instanceof CfsError && err.kind === "already-exists") return undefined;
      throw err;
    }
  }

  async refreshLock(token: string, timeoutSeconds: number, as: CallIdentity): Promise<DavLock | undefined> {
    return orMissing(async () => toLock((await callUnary(this.client.refreshLock.bind(this.client), { token, timeoutSeconds }, as, "metadata RefreshLock")).lock));
  }

  async unlock(token: string, as: CallIdentity): Promise<boolean> {
    return (await orMissing(async () => (await callUnary(this.client.unlock.bind(this.client), { token }, as, "metadata Unlock"), true))) ?? false;
  }

  async listLocks(path: string, descendants: boolean, as: CallIdentity): Promise<DavLock[]> {
    return (await callUnary(this.client.listLocks.bind(this.client), { path, descendants }, as, "metadata ListLocks")).locks.map(toLock);
  }

  close(): void {
    this.client.close();
  }
}

async function orMissing<T>(work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof CfsError && err.kind === "not-found") return undefined;
    throw err;
  }
}

function toLock(l: DavLockMessage | undefined): DavLock {
  if (!l) throw new Error("the service answered without a lock");
  return { token: l.token, path: l.path, infinite: l.infinite, exclusive: l.scope === LockScope.LOCK_SCOPE_EXCLUSIVE, ownerXml: l.ownerXml, expiresAt: l.expiresAt ?? new Date(0) };
}

