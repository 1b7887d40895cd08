import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "#lib/logger.js";
import { PostgresDavStateStore } from "../../services/metadata/src/adapters/postgres/dav-state-store.js";
import { createPool, PostgresDatabase } from "../../services/metadata/src/adapters/postgres/database.js";
import { admits } from "../../services/metadata/src/domain/dav-state.js";
import type { DavLockRecord, DavStateStore } from "../../services/metadata/src/ports/dav-state-store.js";
import { startPglite } from "../support/pglite.js";
import { createTestDatabase } from "../support/postgres.js";

const log = createLogger("dav-state-contract", "silent");

/** What DavStateService's store must do, on PostgreSQL and on PGlite. */
function describeDavStateStoreContract(name: string, open: () => Promise<{ pool: pg.Pool; cleanup: () => Promise<void> }>): void {
  describe(`DavStateStore contract: ${name}`, () => {
    let store: DavStateStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const db = new PostgresDatabase(opened.pool, log);
      await db.migrate();
      store = new PostgresDavStateStore(db);
    });
    afterAll(async () => cleanup?.());
    const owner = () => `u-${randomUUID()}`;
    const lock = (path: string, options: Partial<DavLockRecord> = {}): DavLockRecord => ({
      token: `urn:uuid:${randomUUID()}`,
      path,
      infinite: true,
      exclusive: true,
      ownerXml: "<D:owner xmlns:D=\"DAV:\">me</D:owner>",
      expiresAt: new Date(Date.now() + 60_000),
      ...options,
    });

    it("keeps folders per owner; lists, moves, copies and removes subtrees (not prefixes of names)", async () => {
      const me = owner();
      expect(await store.createFolder(me, "a")).toBe(true);
      expect(await store.createFolder(me, "a")).toBe(false);
      await store.createFolder(me, "a/b");
      await store.createFolder(me, "ab");
      expect(await store.listFolders(me, "a")).toEqual(["a", "a/b"]);
      expect(await store.listFolders(owner(), "")).toEqual([]);
      await store.movePaths(me, "a", "z", true);
      expect(await store.listFolders(me, "")).toEqual(["a", "a/b", "ab", "z", "z/b"]);
      await store.movePaths(me, "z", "y", false);
      expect(await store.listFolders(me, "")).toEqual(["a", "a/b", "ab", "y", "y/b"]);
      await store.removePaths(me, "a");
      expect(await store.listFolders(me, "")).toEqual(["ab", "y", "y/b"]);
    });

    it("sets, replaces and removes dead properties, which move with their paths", async () => {
      const me = owner();
      await store.updateProperties(me, "f.txt", [{ path: "f.txt", namespace: "urn:x", name: "colour", xml: "<colour xmlns=\"urn:x\">red</colour>" }], []);
      await store.updateProperties(me, "f.txt", [{ path: "f.txt", namespace: "urn:x", name: "colour", xml: "<colour xmlns=\"urn:x\">blue</colour>" }, { path: "f.txt", namespace: "", name: "plain", xml: "<plain xmlns=\"\">1</plain>" }], []);
      expect((await store.getProperties(me, ["f.txt"])).map((p) => p.xml)).toEqual(["<plain xmlns=\"\">1</plain>", "<colour xmlns=\"urn:x\">blue</colour>"]);
      await store.updateProperties(me, "f.txt", [], [{ namespace: "", name: "plain" }]);
      await store.movePaths(me, "f.txt", "g.txt", false);
      expect(await store.getProperties(me, ["f.txt"])).toEqual([]);
      expect((await store.getProperties(me, ["g.txt"])).map((p) => p.name)).toEqual(["colour"]);
    });

    it("takes locks only when the domain admits them beside the overlapping live ones, and forgets expired ones", async () => {
      const me = owner();
      const shared = await store.lock(me, lock("d", { exclusive: false }), (o) => admits({ exclusive: false }, o));
      expect(shared).toBeDefined();
      expect(await store.lock(me, lock("d", { exclusive: false }), (o) => admits({ exclusive: false }, o))).toBeDefined();
      expect(await store.lock(me, lock("d/e"), (o) => admits({ exclusive: true }, o))).toBeUndefined();
      expect(await store.lock(owner(), lock("d/e"), (o) => admits({ exclusive: true }, o))).toBeDefined();
      expect(await store.lock(me, lock("other"), (o) => admits({ exclusive: true }, o))).toBeDefined();
      expect((await store.listLocks(me, "d/e", false)).length).toBe(2);
      expect((await store.listLocks(me, "", true)).length).toBe(3);
      expect(await store.unlock(me, shared!.token)).toBe(true);
      expect(await store.unlock(me, shared!.token)).toBe(false);
      const expired = await store.lock(me, lock("gone", { expiresAt: new Date(Date.now() - 1000) }), () => true);
      expect(await store.listLocks(me, "gone", false)).toEqual([]);
      expect(await store.refreshLock(me, expired!.token, new Date(Date.now() + 60_000))).toBeUndefined();
      expect(await store.lock(me, lock("gone"), (o) => o.length === 0)).toBeDefined();
    });
  });
}

describeDavStateStoreContract("PostgreSQL", async () => {
  const db = await createTestDatabase();
  const pool = createPool({ url: db.url, max: 4 }, log);
  return { pool, cleanup: async () => (await pool.end(), await db.drop()) };
});

describeDavStateStoreContract("PGlite", async () => {
  const pglite = await startPglite();
  const pool = createPool({ url: pglite.url, max: 1 }, log);
  return { pool, cleanup: async () => (await pool.end(), await pglite.stop()) };
});
