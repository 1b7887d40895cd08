import { fileURLToPath } from "node:url";
import pg from "pg";
import type { Logger } from "pino";
import { CfsError, unavailable } from "#lib/errors.js";
import { applyMigrations } from "#lib/pg-migrations.js";
import { statement, type StatementNames } from "#lib/pg-statements.js";

const MIGRATIONS_DIR = fileURLToPath(new URL("../../../migrations", import.meta.url));

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
    // A statement is written as soon as it is issued, not when the one before
    // it has been answered: a transaction sends what does not wait for an
    // earlier result together (Transaction). Each keeps its own Sync, so
    // statements still run one by one, each with its own snapshot.
    pipeline: true,
  });
  pool.on("error", (err) => log.warn({ err }, "idle database connection failed"));
  return pool;
}

/** One connection inside a transaction, or the pool for single statements. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * The statements of one transaction. They run in the order they are issued;
 * those issued without awaiting an earlier one's result travel to the
 * database together, in one round trip (a helper that issues its statement
 * before its first await can be one of them).
 */
export interface Transaction extends Queryable {
  /**
   * Sends COMMIT behind the statements issued so far, so that the last ones
   * and the COMMIT take one round trip; resolves once every statement of the
   * transaction and the COMMIT succeeded, and `results` (what the work makes
   * of its last statements without awaiting it) resolved. From here the work
   * cannot decide against committing: nothing may be issued after it.
   */
  commit(...results: (Promise<unknown> | undefined)[]): Promise<void>;
}

/**
 * The metadata database (PostgreSQL, or PGlite through the same wire
 * protocol) as every store adapter uses it: one schema, single statements,
 * transactions, and one translation of driver errors. Each transaction runs
 * on one pooled connection that does nothing else until COMMIT: with
 * PGlite's single connection another query awaited inside a transaction
 * would wait forever.
 */
export class PostgresDatabase {
  /**
   * `names`: statements are sent named, each prepared once per connection
   * (lib/pg-statements.ts); without, unnamed (PGlite, whose connections
   * share one session, and poolers that do not keep prepared statements).
   */
  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    private readonly names?: StatementNames,
  ) {}

  /** Applies pending schema migrations; safe to repeat and to run from several replicas at once. */
  async migrate(): Promise<void> {
    await applyMigrations(await this.connect(), { dir: MIGRATIONS_DIR, table: "schema_migrations" }, this.log.child({ component: "migrations" }));
  }

  /** Resolves when the database answers (the readiness check). */
  async ping(): Promise<void> {
    await this.query("SELECT 1");
  }

  /** One statement on any pooled connection. */
  async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(statement(this.names, text, values));
    } catch (err) {
      throw translate(err);
    }
  }

  /**
   * Runs `work` in one transaction: committed when it resolves (unless it
   * committed itself), rolled back when it throws. BEGIN travels with the
   * work's first statements.
   */
  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      const tx = new PipelinedTransaction(client, this.names);
      const result = await work(tx);
      await tx.commit();
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

/**
 * A transaction on one connection whose statements are written as they are
 * issued (the pool's clients pipeline) and are all waited for at COMMIT:
 * a statement whose result nobody awaited still decides whether the
 * transaction commits.
 */
class PipelinedTransaction implements Transaction {
  /** Every statement issued, BEGIN first, each settled without throwing (the caller's copy of it still rejects). */
  private readonly issued: Promise<{ failure?: unknown }>[] = [];
  private readonly begun: Promise<unknown>;
  private committing: Promise<void> | undefined;
  private corked = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly names: StatementNames | undefined,
  ) {
    this.begun = this.send("BEGIN");
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.committing) return Promise.reject(new Error("a statement was issued after its transaction's COMMIT"));
    const result = this.send<R>(text, values);
    // Statements sent with a BEGIN that failed ran outside any transaction:
    // their results are withheld, so that the work writes nothing on them.
    const delivered = this.begun.then(() => result);
    // A failure the work does not await is not lost: COMMIT reports it.
    delivered.catch(() => undefined);
    return delivered;
  }

  commit(...results: (Promise<unknown> | undefined)[]): Promise<void> {
    this.committing ??= this.sendCommit(results);
    return this.committing;
  }

  private async sendCommit(results: (Promise<unknown> | undefined)[]): Promise<void> {
    const commit = this.send("COMMIT");
    const [statements, made] = await Promise.all([Promise.all(this.issued), Promise.allSettled(results)]);
    // The first failure is the cause; the statements after it in the
    // transaction only report that it is aborted.
    const failed = statements.find((o) => "failure" in o);
    if (failed) throw failed.failure;
    // COMMIT of a transaction that an error aborted rolls it back instead.
    if ((await commit).command !== "COMMIT") throw new Error("the transaction was rolled back instead of committed");
    const unmade = made.find((r) => r.status === "rejected");
    if (unmade) throw unmade.reason;
  }

  private send<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    this.coalesceWrites();
    const result = this.client.query<R>(statement(this.names, text, values));
    this.issued.push(result.then(() => ({}), (failure: unknown) => ({ failure })));
    return result;
  }

  /**
   * Holds the connection's writes until the statements issued in this tick
   * are all written: one socket write a round trip instead of one a
   * statement (on loopback each write also runs the database's receive path
   * and wakes it). The pool's clients are pg Clients, whose socket this is.
   */
  private coalesceWrites(): void {
    if (this.corked) return;
    const socket = (this.client as pg.PoolClient & Pick<pg.Client, "connection">).connection.stream;
    socket.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
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
