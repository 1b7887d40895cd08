import { runner } from "node-pg-migrate";
import type pg from "pg";
import type { Logger } from "pino";

/** Only `*.sql` files are migrations (node-pg-migrate would load anything else as a JS module). */
const NOT_A_MIGRATION = "(?:\\..*|(?!.*\\.sql$).*)";

export interface Migrations {
  /** The folder of the service's `NNNN_name.sql` files. */
  dir: string;
  /** The table that records which ran: one per service, so that services can share a database. */
  table: string;
}

/**
 * Applies the pending migrations on `client`, and releases it: back to the
 * pool after success, destroyed after a failure (the session may sit in an
 * aborted transaction or still hold the advisory lock). Safe to repeat and
 * to run from several replicas at once.
 */
export async function applyMigrations(client: pg.PoolClient, migrations: Migrations, log: Logger): Promise<void> {
  let failure: Error | undefined;
  try {
    await runner({
      dbClient: client,
      dir: migrations.dir,
      ignorePattern: NOT_A_MIGRATION,
      migrationsTable: migrations.table,
      direction: "up",
      // Each file in its own transaction: a failure keeps the earlier ones.
      singleTransaction: false,
      // A second replica starting at the same time waits, then finds nothing to do.
      advisoryLockMode: "wait",
      checkOrder: true,
      logger: {
        info: (msg) => log.info(msg.trim()),
        warn: (msg) => log.warn(msg.trim()),
        error: (msg) => log.error(msg.trim()),
      },
    });
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
    throw failure;
  } finally {
    client.release(failure);
  }
}
