import type { AppPasswordServiceService } from "#gen/cfs/metadata/v1/app_passwords.js";
import type { ServiceHandlers } from "#lib/grpc-server.js";
import type { AppPasswords } from "./domain/app-passwords.js";

/** Translates AppPasswordService calls to the domain; the user is always the token's subject. */
export function createAppPasswordHandlers(appPasswords: AppPasswords): ServiceHandlers<typeof AppPasswordServiceService> {
  return {
    async createAppPassword(request, ctx) {
      const created = await appPasswords.create(ctx.principal, request.label);
      ctx.log.info({ appPasswordId: created.id }, "app password created");
      return created;
    },

    async listAppPasswords(_request, ctx) {
      const records = await appPasswords.list(ctx.principal);
      return { appPasswords: records.map((r) => ({ id: r.id, label: r.label, createdAt: r.createdAt, lastUsedAt: r.lastUsedAt })) };
    },

    async revokeAppPassword(request, ctx) {
      await appPasswords.revoke(ctx.principal, request.id);
      ctx.log.info({ appPasswordId: request.id }, "app password revoked");
      return {};
    },

    async exchangeAppPassword(request, ctx) {
      const { token, expiresAt } = await appPasswords.exchange(ctx.principal, request.username, request.secret);
      return { accessToken: token, expiresAt };
    },
  };
}
