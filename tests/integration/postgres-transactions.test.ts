import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresCatalogueStore } from "../../services/metadata/src/adapters/postgres/catalogue-store.js";
import { createPool, PostgresDatabase } from "../../services/metadata/src/adapters/postgres/database.js";
import { PostgresUploadSessionStore } from "../../services/metadata/src/adapters/postgres/upload-session-store.js";
import { chunkListDigest } from "../../services/metadata/src/domain/chunk-list-digest.js";
import type { CatalogueRules } from "../../services/metadata/src/domain/types.js";
import { createLogger } from "#lib/logger.js";
import { StatementNames } from "#lib/pg-statements.js";
import { commit as commitVersion, RULES, sha, version } from "../contract/metadata-store-fixtures.js";
import { waitFor } from "../support/net.js";
import { startPglite } from "../support/pglite.js";
import { createTestDatabase } from "../support/postgres.js";

const log = createLogger("postgres-transactions", "silent");

interface Backend {
  url: string;
  /** 1 on PGlite, which runs one session. */
  max: number;
  /** As main.ts sends them: prepared on PostgreSQL, unnamed on PGlite (one session for every connection). */
  names: StatementNames | undefined;
  stop: () => Promise<void>;
}

const backends: [string, () => Promise<Backend>][] = [
  [
    "PostgreSQL",
    async () => {
      const db = await createTestDatabase();
      return { url: db.url, max: 4, names: new StatementNames(), stop: db.drop };
    },
  ],
  ["PGlite", async () => ({ ...(await startPglite()), max: 1, names: undefined })],
];

/**
 * The pool with its clients counted: statements issued, and round trips (a
 * statement issued while none of its connection's is outstanding starts one).
 */
function countedPool(backend: Backend) {
  const pool = createPool({ url: backend.url, max: backend.max }, log);
  const counts = { statements: 0, roundTrips: 0 };
  pool.on("connect", (client) => {
    let outstanding = 0;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    Object.assign(client, {
      query: (...args: unknown[]) => {
        counts.statements += 1;
        if (outstanding++ === 0) counts.roundTrips += 1;
        const last = args.at(-1);
        // pool.query passes a callback; a transaction awaits the promise.
        if (typeof last === "function") {
          return query(...args.slice(0, -1), (...result: unknown[]) => {
            outstanding -= 1;
            (last as (...result: unknown[]) => void)(...result);
          });
        }
        const result = query(...args) as Promise<unknown>;
        const settle = () => void (outstanding -= 1);
        result.then(settle, settle);
        return result;
      },
    });
  });
  return {
    pool,
    counts,
    /** What `op` cost. */
    async cost(op: () => Promise<unknown>) {
      counts.statements = 0;
      counts.roundTrips = 0;
      await op();
      return { ...counts };
    },
  };
}

describe.each(backends)("PostgresDatabase transactions on %s", (_name, start) => {
  let backend: Backend;
  let counted: ReturnType<typeof countedPool>;
  let db: PostgresDatabase;

  beforeAll(async () => {
    backend = await start();
    counted = countedPool(backend);
    db = new PostgresDatabase(counted.pool, log, backend.names);
    await db.migrate();
    await db.query(`CREATE TABLE tx_probe (k text PRIMARY KEY)`);
  });
  afterAll(async () => {
    await counted?.pool.end();
    await backend?.stop();
  });

  const probed = async (k: string) => (await db.query(`SELECT 1 FROM tx_probe WHERE k = $1`, [k])).rows.length === 1;

  it("sends what waits for no result together, in order, and COMMIT with the last statements", async () => {
    const k = randomUUID();
    const cost = await counted.cost(() =>
      db.transaction(async (tx) => {
        const inserted = tx.query(`INSERT INTO tx_probe (k) VALUES ($1)`, [k]);
        const read = tx.query(`SELECT k FROM tx_probe WHERE k = $1`, [k]);
        await tx.commit(inserted, read);
        expect((await read).rows).toEqual([{ k }]);
      }),
    );
    expect(await probed(k)).toBe(true);
    // BEGIN, INSERT, SELECT and COMMIT.
    expect(cost).toEqual({ statements: 4, roundTrips: 1 });
  });

  it("rolls back on a failed statement even when the work caught its error, and says which one failed", async () => {
    const k = randomUUID();
    const outcome = db.transaction(async (tx) => {
      await tx.query(`INSERT INTO tx_probe (k) VALUES ($1)`, [k]);
      const duplicate = await tx.query(`INSERT INTO tx_probe (k) VALUES ($1)`, [k]).catch(() => "ignored");
      expect(duplicate).toBe("ignored");
    });
    await expect(outcome).rejects.toMatchObject({ code: "23505" });
    expect(await probed(k)).toBe(false);
  });

  it("rolls back on a failed statement whose result the work never awaited", async () => {
    const k = randomUUID();
    const outcome = db.transaction(async (tx) => {
      await tx.query(`INSERT INTO tx_probe (k) VALUES ($1)`, [k]);
      // Neither awaited nor handed to commit: still no unhandled rejection.
      tx.query(`SELECT 1 / 0`);
    });
    await expect(outcome).rejects.toMatchObject({ code: "22012" });
    expect(await probed(k)).toBe(false);
  });

  it("refuses a statement issued after COMMIT, and reports a failed result once committed", async () => {
    const k = randomUUID();
    let late: Promise<string> | undefined;
    const outcome = db.transaction(async (tx) => {
      const inserted = tx.query(`INSERT INTO tx_probe (k) VALUES ($1)`, [k]);
      const made = inserted.then(() => Promise.reject(new Error("made nothing of it")));
      await tx.commit(inserted, made).finally(() => {
        late = tx.query(`SELECT 1`).then(
          () => "sent",
          (err: Error) => err.message,
        );
      });
    });
    await expect(outcome).rejects.toThrow("made nothing of it");
    expect(await late).toBe("a statement was issued after its transaction's COMMIT");
    expect(await probed(k)).toBe(true);
  });

  describe("catalogue writes", () => {
    let catalogue: PostgresCatalogueStore;
    let uploads: PostgresUploadSessionStore;
    beforeAll(() => {
      catalogue = new PostgresCatalogueStore(db);
      uploads = new PostgresUploadSessionStore(db);
    });

    const commit = async (v: Parameters<PostgresCatalogueStore["commitFileVersion"]>[0], rules: CatalogueRules = RULES) => {
      let kind: string | undefined;
      const cost = await counted.cost(async () => (kind = (await catalogue.commitFileVersion(v, rules)).kind));
      return { kind, roundTrips: cost.roundTrips };
    };

    it("commit a version in two round trips whatever they find", async () => {
      const owner = `user-${randomUUID()}`;
      expect(await commit(version(owner, "a", ["a1"]))).toEqual({ kind: "done", roundTrips: 2 });
      expect(await commit(version(owner, "a", ["a2"]))).toEqual({ kind: "done", roundTrips: 2 });
      // A new version that prunes the oldest.
      expect(await commit(version(owner, "a", ["a3"]), { ...RULES, versionsMax: 2 })).toEqual({ kind: "done", roundTrips: 2 });
      expect(await commit(version(owner, "a", ["a3"]))).toEqual({ kind: "done", roundTrips: 2 });
      expect(await commit(version(owner, "big", ["b1", "b2"]), { ...RULES, defaultQuotaBytes: 1 })).toEqual({ kind: "over-quota", roundTrips: 2 });
      const keyed = { ...version(owner, "k", ["k1"]), idempotencyKey: "key" };
      expect(await commit(keyed)).toEqual({ kind: "done", roundTrips: 2 });
      expect(await commit(keyed)).toEqual({ kind: "done", roundTrips: 2 });

      const uploadId = randomUUID();
      const specs = [{ sha256: sha("s1"), size: 1000 }];
      await uploads.create({ uploadId, owner, name: "s", contentType: "text/plain", size: 1000, sha256: undefined, chunkCount: 1, expiresAt: new Date(Date.now() + 3_600_000) }, specs);
      const session = {
        owner,
        name: "s",
        contentType: "text/plain",
        size: 1000,
        sha256: sha("s"),
        chunks: [],
        chunkListDigest: chunkListDigest(specs),
        session: { uploadId, chunkCount: 1 },
      };
      // The first commit of the session, then its retry.
      expect(await commit(session)).toEqual({ kind: "done", roundTrips: 2 });
      expect(await commit(session)).toEqual({ kind: "done", roundTrips: 2 });
    });

    it("move, restore, trash and purge in two round trips, undelete in three", async () => {
      const owner = `user-${randomUUID()}`;
      const { fileId } = await commitVersion(catalogue, version(owner, "m", ["m1"]));
      await commitVersion(catalogue, version(owner, "m", ["m2"]));
      const roundTrips = async (op: () => Promise<unknown>) => (await counted.cost(op)).roundTrips;
      expect(await roundTrips(() => catalogue.moveFile(owner, fileId, "moved"))).toBe(2);
      expect(await roundTrips(() => catalogue.restoreFileVersion(owner, fileId, 1, RULES))).toBe(2);
      expect(await roundTrips(() => catalogue.trashFile(owner, fileId))).toBe(2);
      expect(await roundTrips(() => catalogue.undeleteFile(owner, fileId, RULES))).toBe(3);
      await catalogue.trashFile(owner, fileId);
      expect(await roundTrips(() => catalogue.purgeFile(owner, fileId))).toBe(2);
      expect(await catalogue.listFiles(owner, { prefix: "", after: "", limit: 10 })).toEqual([]);
    });
  });
});

describe("PostgresDatabase prepared statements on PostgreSQL", () => {
  it("prepares each statement once per connection, in a transaction too, and sends BEGIN and COMMIT unnamed", async () => {
    const backend = await backends[0]![1]();
    const pool = createPool({ url: backend.url, max: 1 }, log);
    try {
      const names = new StatementNames();
      const db = new PostgresDatabase(pool, log, names);
      await db.query(`CREATE TABLE prep_probe (k text PRIMARY KEY)`);
      const insert = `INSERT INTO prep_probe (k) VALUES ($1)`;
      const count = `SELECT count(*)::int AS n FROM prep_probe WHERE k <> $1`;
      for (const k of ["a", "b"]) await db.transaction(async (tx) => void (await tx.query(insert, [k])));
      for (let i = 0; i < 3; i++) expect((await db.query<{ n: number }>(count, [""])).rows[0]!.n).toBe(2);
      // One session (a pool of one): what it prepared.
      const listing = `SELECT name FROM pg_prepared_statements`;
      const prepared = (await db.query<{ name: string }>(listing)).rows.map((r) => r.name).filter((n) => n.startsWith("cfs_"));
      const expected = [`CREATE TABLE prep_probe (k text PRIMARY KEY)`, insert, count, listing].map((text) => names.nameOf(text));
      expect(prepared.sort()).toEqual(expected.sort());
      expect(names.nameOf("BEGIN")).toBeUndefined();
    } finally {
      await pool.end();
      await backend.stop();
    }
  });
});

describe("PostgresDatabase transactions on PostgreSQL, two sessions", () => {
  let backend: Backend;
  let pool: pg.Pool;
  let catalogue: PostgresCatalogueStore;
  beforeAll(async () => {
    backend = await backends[0]![1]();
    pool = createPool({ url: backend.url, max: 4 }, log);
    const db = new PostgresDatabase(pool, log);
    await db.migrate();
    catalogue = new PostgresCatalogueStore(db);
  });
  afterAll(async () => {
    await pool?.end();
    await backend?.stop();
  });

  it("looks the name up after the usage lock is granted, seeing what its holder committed meanwhile", async () => {
    const owner = `user-${randomUUID()}`;
    await catalogue.commitFileVersion(version(owner, "other", ["o"]), RULES);
    const holder = new pg.Client({ connectionString: backend.url });
    await holder.connect();
    try {
      // Another writer of the owner holds the usage lock and creates the name.
      await holder.query(`BEGIN`);
      await holder.query(`SELECT 1 FROM owner_usage WHERE owner = $1 FOR UPDATE`, [owner]);
      const fileId = randomUUID();
      await holder.query(`INSERT INTO files (file_id, owner, name, current_version) VALUES ($1, $2, 'race', 1)`, [fileId, owner]);
      await holder.query(`INSERT INTO file_versions (file_id, version, size, sha256, content_type, num_chunks) VALUES ($1, 1, 0, $2, 'text/plain', 0)`, [
        fileId,
        sha(""),
      ]);
      const committing = catalogue.commitFileVersion(version(owner, "race", ["r"]), RULES);
      await waitFor(
        async () => (await holder.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows.length > 0,
        10_000,
        "the commit to wait for the usage lock",
      );
      await holder.query(`COMMIT`);
      expect(await committing).toMatchObject({ kind: "done", value: { fileId, name: "race", version: 2 } });
    } finally {
      await holder.end();
    }
  });
});
