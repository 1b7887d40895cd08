import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, PostgresDatabase } from "../../services/metadata/src/adapters/postgres/database.js";
import { createLogger } from "#lib/logger.js";
import { startPglite } from "../support/pglite.js";
import { createTestDatabase } from "../support/postgres.js";

const log = createLogger("postgres-transactions", "silent");

interface Backend {
  url: string;
  /** 1 on PGlite, which runs one session. */
  max: number;
  stop: () => Promise<void>;
}

const backends: [string, () => Promise<Backend>][] = [
  [
    "PostgreSQL",
    async () => {
      const db = await createTestDatabase();
      return { url: db.url, max: 4, stop: db.drop };
    },
  ],
  ["PGlite", async () => ({ ...(await startPglite()), max: 1 })],
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
    db = new PostgresDatabase(counted.pool, log);
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
});
