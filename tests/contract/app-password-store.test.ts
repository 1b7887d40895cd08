import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "#lib/logger.js";
import { PostgresAppPasswordStore } from "../../services/metadata/src/adapters/postgres/app-password-store.js";
import { createPool, PostgresDatabase } from "../../services/metadata/src/adapters/postgres/database.js";
import type { AppPasswordStore } from "../../services/metadata/src/ports/app-password-store.js";
import { startPglite } from "../support/pglite.js";
import { createTestDatabase } from "../support/postgres.js";

const log = createLogger("app-password-contract", "silent");

/** What the app-password store must do, on PostgreSQL and on PGlite (the migrations make the table). */
function describeAppPasswordStoreContract(name: string, open: () => Promise<{ pool: pg.Pool; cleanup: () => Promise<void> }>): void {
  describe(`AppPasswordStore contract: ${name}`, () => {
    let store: AppPasswordStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const db = new PostgresDatabase(opened.pool, log);
      await db.migrate();
      store = new PostgresAppPasswordStore(db);
    });
    afterAll(async () => cleanup?.());

    const record = (owner: string, lookupKey = randomUUID().slice(0, 8)) => ({ id: randomUUID(), owner, label: "laptop", lookupKey, secretHash: "scrypt$x" });

    it("stores, lists newest first, and finds by lookup key", async () => {
      const owner = `u-${randomUUID()}`;
      const first = (await store.insert(record(owner)))!;
      const second = (await store.insert(record(owner)))!;
      expect(first.createdAt).toBeInstanceOf(Date);
      expect(first.lastUsedAt).toBeUndefined();
      const newestFirst = [first, second].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? -1 : 1));
      expect(second.createdAt.getTime()).toBeGreaterThanOrEqual(first.createdAt.getTime());
      expect((await store.list(owner)).map((r) => r.id)).toEqual(newestFirst.map((r) => r.id));
      expect(await store.count(owner)).toBe(2);
      expect((await store.findByLookupKey(first.lookupKey))?.id).toBe(first.id);
      expect(await store.findByLookupKey("nosuchke")).toBeUndefined();
    });

    it("refuses a taken lookup key without storing anything", async () => {
      const owner = `u-${randomUUID()}`;
      const taken = (await store.insert(record(owner)))!;
      expect(await store.insert(record(`u-${randomUUID()}`, taken.lookupKey))).toBeUndefined();
      expect(await store.count(owner)).toBe(1);
    });

    it("removes only the owner's own, at once", async () => {
      const owner = `u-${randomUUID()}`;
      const mine = (await store.insert(record(owner)))!;
      expect(await store.remove(`u-${randomUUID()}`, mine.id)).toBe(false);
      expect(await store.findByLookupKey(mine.lookupKey)).toBeDefined();
      expect(await store.remove(owner, mine.id)).toBe(true);
      expect(await store.findByLookupKey(mine.lookupKey)).toBeUndefined();
      expect(await store.remove(owner, mine.id)).toBe(false);
    });

    it("records the last use", async () => {
      const owner = `u-${randomUUID()}`;
      const stored = (await store.insert(record(owner)))!;
      await store.markUsed(stored.id);
      expect((await store.list(owner))[0]!.lastUsedAt).toBeInstanceOf(Date);
    });
  });
}

describeAppPasswordStoreContract("PostgreSQL", async () => {
  const db = await createTestDatabase();
  const pool = createPool({ url: db.url, max: 4 }, log);
  return { pool, cleanup: async () => (await pool.end(), await db.drop()) };
});

describeAppPasswordStoreContract("PGlite", async () => {
  const pglite = await startPglite();
  const pool = createPool({ url: pglite.url, max: 1 }, log);
  return { pool, cleanup: async () => (await pool.end(), await pglite.stop()) };
});
