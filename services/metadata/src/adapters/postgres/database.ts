import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import pg from "pg";
import type { Logger } from "pino";
import { CfsError, unavailable } from "#lib/errors.js";

const MIGRATIONS_DIR = fileURLToPath(new URL("../../../migrations", import.meta.url));
/** Only `*.sql` files are migrations (node-pg-migrate would load anything else as a JS module). */
const NOT_A_MIGRATION = "(?:\\..*|(?!.*\\.sql$).*)";

export interface PoolOptions {
  url: string;
  /** 1 on PGlite, which runs one query at a time on a single session. */
  max: number;
}

/** A pg pool whose idle-connection errors are logged instead of crashing the process. */
export function createPool(options: PoolOptions, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on("error", (err) => log.warn({ err }, "idle database connection failed"));
  return pool;
}

/** One connection inside a transaction, or the pool for single statements. */
export type Queryable = Pick<pg.PoolClient, "query">;

/**
 * The metadata database (PostgreSQL, or PGlite through the same wire
 * protocol) as every store adapter uses it: one schema, single statements,
 * transactions, and one translation of driver errors. Each transaction runs
 * on one pooled connection that does nothing else until COMMIT: with
 * PGlite's single connection another query awaited inside a transaction
 * would wait forever.
 */
export class PostgresDatabase {
  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  /** Applies pending schema migrations; safe to repeat and to run from several replicas at once. */
  async migrate(): Promise<void> {
    const client = await this.connect();
    const log = this.log.child({ component: "migrations" });
    let failure: Error | undefined;
    try {
      await runner({
        dbClient: client,
        dir: MIGRATIONS_DIR,
        ignorePattern: NOT_A_MIGRATION,
        migrationsTable: "schema_migrations",
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
      // After a failure the session may sit in an aborted transaction or still
      // hold the advisory lock: destroy it rather than return it to the pool.
      client.release(failure);
    }
  }

  /** Resolves when the database answers (the readiness check). */
  async ping(): Promise<void> {
    await this.query("SELECT 1");
  }

  /** One statement on any pooled connection. */
  async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw translate(err);
    }
  }

  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  async transaction<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      client.release();
      return result;
    } catch (err) {
      // A connection that cannot even roll back is broken: drop it from the pool.
      await client.query("ROLLBACK").then(
        () => client.release(),
        (rollbackError: Error) => client.release(rollbackError),
      );
      throw translate(err);
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw translate(err);
    }
  }
}

/** SQLSTATE classes and socket errors that mean "the database is unreachable", not "the request is wrong". */
const CONNECTION_ERRORS = new Set(["57P01", "57P02", "57P03", "53300", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND"]);

/** Connection failures become UNAVAILABLE (clients retry); anything else stays internal. */
function translate(err: unknown): unknown {
  if (err instanceof CfsError || !(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  const lost =
    (typeof code === "string" && (code.startsWith("08") || CONNECTION_ERRORS.has(code))) ||
    /Connection terminated|timeout exceeded when trying to connect/.test(err.message);
  return lost ? unavailable("database unavailable", err) : err;
}
