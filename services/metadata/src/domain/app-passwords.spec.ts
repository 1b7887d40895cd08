import { describe, expect, it } from "vitest";
import type { Principal } from "#lib/auth.js";
import { failure } from "../../../../tests/support/strict-fake.js";
import type { AppPasswordRecord, AppPasswordStore } from "../ports/app-password-store.js";
import { parseSecret, verifySecret } from "./app-password-secret.js";
import { AppPasswords, MAX_APP_PASSWORDS } from "./app-passwords.js";

/** An in-memory store: the logic under test is the domain's, not PostgreSQL's (the contract suite covers that). */
function memoryStore(): AppPasswordStore & { rows: AppPasswordRecord[] } {
  const rows: AppPasswordRecord[] = [];
  return {
    rows,
    insert: async (r) => {
      if (rows.some((x) => x.lookupKey === r.lookupKey)) return undefined;
      const stored = { ...r, createdAt: new Date(), lastUsedAt: undefined };
      rows.push(stored);
      return stored;
    },
    list: async (owner) => rows.filter((r) => r.owner === owner).reverse(),
    count: async (owner) => rows.filter((r) => r.owner === owner).length,
    remove: async (owner, id) => {
      const i = rows.findIndex((r) => r.owner === owner && r.id === id);
      if (i < 0) return false;
      rows.splice(i, 1);
      return true;
    },
    findByLookupKey: async (key) => rows.find((r) => r.lookupKey === key),
    markUsed: async (id) => {
      const row = rows.find((r) => r.id === id);
      if (row) row.lastUsedAt = new Date();
    },
  };
}

const signer = { sign: async (subject: string, id: string) => ({ token: `token-for-${subject}-${id}`, expiresAt: new Date(0) }) };
const alice: Principal = { subject: "alice", isService: false };
const service: Principal = { subject: "webdav@clients", isService: true };

describe("AppPasswords", () => {
  it("stores only a salted hash of the secret and exchanges the secret however it is typed", async () => {
    const store = memoryStore();
    const passwords = new AppPasswords(store, signer);
    const created = await passwords.create(alice, "  laptop  ");
    const row = store.rows[0]!;
    expect(row.label).toBe("laptop");
    expect(row.secretHash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(row.secretHash).not.toContain(created.secret.replace(/-/g, "").slice(8));
    expect(await verifySecret(parseSecret(created.secret)!.verifier, row.secretHash)).toBe(true);
    const typed = ` ${created.secret.replace(/-/g, " ").toUpperCase()} `;
    expect(await passwords.exchange(service, "alice", typed)).toEqual({ token: `token-for-alice-${created.id}`, expiresAt: new Date(0) });
    expect(store.rows[0]!.lastUsedAt).toBeInstanceOf(Date);
  });

  it("limits each user to MAX_APP_PASSWORDS", async () => {
    const store = memoryStore();
    const passwords = new AppPasswords(store, signer);
    for (let i = 0; i < MAX_APP_PASSWORDS; i++) {
      await store.insert({ id: `id-${i}`, owner: "alice", label: "x", lookupKey: `k${i}`, secretHash: "scrypt$x" });
    }
    expect((await failure(passwords.create(alice, "one more"))).kind).toBe("resource-exhausted");
  });

  it("refuses a session opened with an app password and service identities the management calls", async () => {
    const passwords = new AppPasswords(memoryStore(), signer);
    const viaAppPassword: Principal = { subject: "alice", isService: false, appPasswordId: "ap" };
    for (const caller of [viaAppPassword, service]) {
      expect((await failure(passwords.create(caller, "x"))).kind).toBe("permission-denied");
      expect((await failure(passwords.list(caller))).kind).toBe("permission-denied");
      expect((await failure(passwords.revoke(caller, "0b7e4a52-2c1f-4e8a-9d3b-5f6a7c8d9e0f"))).kind).toBe("permission-denied");
    }
  });

  it("tells a wrong user, a wrong secret and a malformed secret apart in nothing", async () => {
    const store = memoryStore();
    const passwords = new AppPasswords(store, signer);
    const created = await passwords.create(alice, "laptop");
    const messages = new Set<string>();
    for (const [user, secret] of [
      ["bob", created.secret],
      ["alice", `${created.secret.slice(0, -1)}${created.secret.endsWith("a") ? "b" : "a"}`],
      ["alice", "short"],
    ] as const) {
      const err = await failure(passwords.exchange(service, user, secret));
      expect(err.kind).toBe("unauthenticated");
      messages.add(err.message);
    }
    expect(messages.size).toBe(1);
    expect(store.rows[0]!.lastUsedAt).toBeUndefined();
    expect((await failure(passwords.exchange(alice, "alice", created.secret))).kind).toBe("permission-denied");
  });
});
