import { LockScope, type DavLock, type DavStateServiceService } from "#gen/cfs/metadata/v1/dav_state.js";
import { invalidArgument } from "#lib/errors.js";
import type { ServiceHandlers } from "#lib/grpc-server.js";
import type { DavState } from "./domain/dav-state.js";
import type { DavLockRecord } from "./ports/dav-state-store.js";

/** Translates DavStateService calls to the domain; the owner is always the token's subject. */
export function createDavStateHandlers(state: DavState): ServiceHandlers<typeof DavStateServiceService> {
  return {
    async createFolder(request, ctx) {
      return { created: await state.createFolder(ctx.principal.subject, request.path) };
    },
    async listFolders(request, ctx) {
      return { paths: await state.listFolders(ctx.principal.subject, request.path) };
    },
    async removePaths(request, ctx) {
      await state.removePaths(ctx.principal.subject, request.path);
      return {};
    },
    async movePaths(request, ctx) {
      await state.movePaths(ctx.principal.subject, request.from, request.to, request.copy);
      return {};
    },
    async getProperties(request, ctx) {
      return { properties: await state.getProperties(ctx.principal.subject, request.paths) };
    },
    async updateProperties(request, ctx) {
      await state.updateProperties(ctx.principal.subject, request.path, request.set, request.remove);
      return {};
    },
    async lock(request, ctx) {
      if (request.scope === LockScope.LOCK_SCOPE_UNSPECIFIED) throw invalidArgument("scope is required");
      const lock = await state.lock(ctx.principal.subject, {
        path: request.path,
        infinite: request.infinite,
        exclusive: request.scope === LockScope.LOCK_SCOPE_EXCLUSIVE,
        ownerXml: request.ownerXml,
        timeoutSeconds: request.timeoutSeconds,
      });
      return { lock: toLock(lock) };
    },
    async refreshLock(request, ctx) {
      return { lock: toLock(await state.refreshLock(ctx.principal.subject, request.token, request.timeoutSeconds)) };
    },
    async unlock(request, ctx) {
      await state.unlock(ctx.principal.subject, request.token);
      return {};
    },
    async listLocks(request, ctx) {
      return { locks: (await state.listLocks(ctx.principal.subject, request.path, request.descendants)).map(toLock) };
    },
  };
}

function toLock(l: DavLockRecord): DavLock {
  return {
    token: l.token,
    path: l.path,
    infinite: l.infinite,
    scope: l.exclusive ? LockScope.LOCK_SCOPE_EXCLUSIVE : LockScope.LOCK_SCOPE_SHARED,
    ownerXml: l.ownerXml,
    expiresAt: l.expiresAt,
  };
}
