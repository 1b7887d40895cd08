import { fileURLToPath } from "node:url";
import pg from "pg";
import type { Logger } from "pino";
import { StatementNames, statement } from "#lib/pg-statements.js";
import { unavailable } from "#lib/errors.js";
import { applyMigrations } from "#lib/pg-migrations.js";
import type { ChunkPosition, ListedChunk } from "../ports/chunk-store.js";
import type { PackedLocation, PackEntry, PackIndex, PackMaintenance, SparsePack } from "../ports/pack-index.js";

const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations", import.meta.url));

/**
 * The next pack id, drawn before the pack's row is written: its chunks'
 * rows, inserted by the same statement, point at it, and the row is then
 * written once with the counters of what was really inserted (a statement
 * cannot update a row that one of its own parts inserted). MATERIALIZED:
 * drawn once however often the statement refers to it.
 */
const NEXT_PACK_ID = `SELECT nextval(pg_get_serial_sequence('block_packs', 'id')) AS id`;

/** How full a pack is: the expression of the block_packs_fullness index, written the same so the claim can use it. */
const FULLNESS = "live_bytes::float8 / greatest(bytes, 1)";

/**
 * Records the pack and those of its entries whose key is new (the first of
 * a key given twice), with ON CONFLICT rather than a lookup first: a
 * concurrent addPack of the same key is decided by the primary key, not by
 * who looked first. Resolves the 1-based positions of the entries recorded.
 */
const ADD_PACK = `
  WITH new_pack AS MATERIALIZED (${NEXT_PACK_ID}),
  firsts AS (
    SELECT DISTINCT ON (owner_key, hash) owner_key, hash, "offset", size, n
    FROM (
      SELECT decode(o, 'hex') AS owner_key, decode(h, 'hex') AS hash, "offset", size, n
      FROM unnest($3::text[], $4::text[], $5::bigint[], $6::integer[]) WITH ORDINALITY AS e (o, h, "offset", size, n)
    ) AS given
    ORDER BY owner_key, hash, n
  ),
  added AS (
    INSERT INTO block_chunks (owner_key, hash, pack_id, "offset", size)
    SELECT owner_key, hash, new_pack.id, "offset", size FROM firsts, new_pack
    ON CONFLICT (owner_key, hash) DO NOTHING
    RETURNING owner_key, hash, size
  ),
  recorded AS (
    INSERT INTO block_packs (id, pack, bytes, live_bytes, live_chunks, data)
    SELECT new_pack.id, $1::text, $2::bigint, (SELECT coalesce(sum(size), 0) FROM added), (SELECT count(*) FROM added), $7::bytea FROM new_pack
  )
  SELECT n FROM firsts JOIN added USING (owner_key, hash)`;

/**
 * Deletes the entries and takes them off their packs' counters. The counters
 * are changed through INSERT ... ON CONFLICT DO UPDATE (the proposed row,
 * never inserted since each entry's pack row exists, carries the amounts to
 * subtract) rather than UPDATE: an entry a concurrent movePack re-pointed
 * is deleted at its new place once that commits, into a pack row this
 * statement's snapshot is too old to see, which UPDATE would skip (and the
 * new pack would count a chunk it no longer holds forever), while ON
 * CONFLICT finds and updates it. Pack rows are locked in id order, so two
 * removes never deadlock on them.
 */
const REMOVE = `
  WITH gone AS (
    DELETE FROM block_chunks
    WHERE owner_key = decode($1, 'hex') AND hash IN (SELECT decode(h, 'hex') FROM unnest($2::text[]) AS h)
    RETURNING hash, pack_id, size
  ),
  counted AS (
    INSERT INTO block_packs AS p (id, pack, bytes, live_bytes, live_chunks)
    SELECT pack_id, '', 0, sum(size), count(*) FROM gone GROUP BY pack_id ORDER BY pack_id
    ON CONFLICT (id) DO UPDATE
    SET live_bytes = p.live_bytes - excluded.live_bytes, live_chunks = p.live_chunks - excluded.live_chunks
  )
  SELECT encode(hash, 'hex') AS hash FROM gone`;

/**
 * Claims the emptiest unclaimed packs (an inline one only when empty: it is
 * dropped, never rewritten). SKIP LOCKED: a pack another
 * repacker is claiming right now is left to it rather than waited for.
 * Claim times are the database's clock, the one all replicas share.
 * RETURNING has no order, hence the outer sort.
 */
const CLAIM_SPARSE_PACKS = `
  WITH claimed AS (
    UPDATE block_packs AS p SET claimed_at = now()
    FROM (
      SELECT id FROM block_packs
      WHERE ${FULLNESS} <= $1::float8 AND recorded_at < $2::timestamptz AND (data IS NULL OR live_chunks = 0)
        AND (claimed_at IS NULL OR claimed_at <= now() - $3::float8 * interval '1 millisecond')
      ORDER BY ${FULLNESS}, id
      LIMIT $4
      FOR UPDATE SKIP LOCKED
    ) AS sparse
    WHERE p.id = sparse.id
    RETURNING p.id, p.pack, p.bytes, p.live_bytes, p.data IS NOT NULL AS inline
  )
  SELECT pack, bytes, live_bytes, inline FROM claimed ORDER BY ${FULLNESS}, id`;

/**
 * Re-points those of `to`'s entries still in `from` (an entry removed
 * meanwhile is not there to re-point), records `to` with what moved, and
 * takes that off `from`'s counters, resolving what it has left (NULL when
 * `from` is not recorded).
 */
const MOVE_ENTRIES = `
  WITH target AS MATERIALIZED (${NEXT_PACK_ID}),
  source AS (SELECT id FROM block_packs WHERE pack = $1),
  moves AS (
    SELECT decode(o, 'hex') AS owner_key, decode(h, 'hex') AS hash, "offset"
    FROM unnest($4::text[], $5::text[], $6::bigint[]) AS e (o, h, "offset")
  ),
  moved AS (
    UPDATE block_chunks AS c SET pack_id = target.id, "offset" = moves."offset"
    FROM source, target, moves
    WHERE c.pack_id = source.id AND c.owner_key = moves.owner_key AND c.hash = moves.hash
    RETURNING c.size
  ),
  totals AS (SELECT count(*) AS chunks, coalesce(sum(size), 0) AS bytes FROM moved),
  recorded AS (
    INSERT INTO block_packs (id, pack, bytes, live_bytes, live_chunks)
    SELECT target.id, $2::text, $3::bigint, totals.bytes, totals.chunks FROM target, totals
  ),
  left_behind AS (
    UPDATE block_packs AS p SET live_bytes = p.live_bytes - totals.bytes, live_chunks = p.live_chunks - totals.chunks
    FROM source, totals
    WHERE p.id = source.id
    RETURNING p.live_chunks
  )
  SELECT totals.chunks AS moved, (SELECT live_chunks FROM left_behind) AS remaining FROM totals`;

/**
 * Drops a pack row with nothing in it. The counter says so in one index
 * lookup; NOT EXISTS makes sure, since a row that chunks point into must
 * never go (the foreign key would refuse it anyway, as an error).
 */
const DROP_EMPTY_PACK = `
  DELETE FROM block_packs AS p
  WHERE pack = $1 AND live_chunks = 0 AND NOT EXISTS (SELECT 1 FROM block_chunks AS c WHERE c.pack_id = p.id)`;

export interface PostgresPackIndexOptions {
  url: string;
  /** 1 on PGlite, which runs one query at a time on a single session. */
  poolMax: number;
  /**
   * Statements prepared once per connection (lib/pg-statements.ts); off on
   * PGlite and behind a pooler that does not keep them.
   */
  preparedStatements: boolean;
}

/**
 * The pack index in PostgreSQL, shared by every block-storage replica. Each
 * method is a single statement (data-modifying CTEs, arrays for batches) so
 * that it is one round trip and atomic without a transaction; movePack alone
 * takes a transaction, since dropping the pack it emptied is a statement
 * of its own.
 */
export class PostgresPackIndex implements PackIndex, PackMaintenance {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    private readonly names: StatementNames | undefined,
  ) {}

  /** Connects and applies the index's pending migrations (safe from several replicas at once). */
  static async open(options: PostgresPackIndexOptions, log: Logger): Promise<PostgresPackIndex> {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolMax,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    // A pooled connection the server drops while idle emits here; unhandled,
    // that would end the process. The next query simply opens another one.
    pool.on("error", (err) => log.warn({ err }, "idle block index connection failed"));
    const index = new PostgresPackIndex(pool, log, options.preparedStatements ? new StatementNames() : undefined);
    try {
      await index.migrate();
    } catch (err) {
      await pool.end();
      throw translate(err);
    }
    return index;
  }

  async sizes(ownerKey: string, hashes: readonly string[]): Promise<Map<string, number>> {
    const { rows } = await this.query<{ hash: string; size: number }>(
      `SELECT encode(hash, 'hex') AS hash, size FROM block_chunks
       WHERE owner_key = decode($1, 'hex') AND hash IN (SELECT decode(h, 'hex') FROM unnest($2::text[]) AS h)`,
      [ownerKey, hashes],
    );
    return new Map(rows.map((r) => [r.hash, r.size]));
  }

  async locate(ownerKey: string, hash: string): Promise<PackedLocation | undefined> {
    const { rows } = await this.query<{ pack: string; offset: string; size: number; inline: boolean }>(
      `SELECT p.pack, c."offset", c.size, p.data IS NOT NULL AS inline FROM block_chunks AS c JOIN block_packs AS p ON p.id = c.pack_id
       WHERE c.owner_key = decode($1, 'hex') AND c.hash = decode($2, 'hex')`,
      [ownerKey, hash],
    );
    const row = rows[0];
    return row && { pack: row.pack, offset: Number(row.offset), size: row.size, inline: row.inline };
  }

  async locateMany(ownerKey: string, hashes: readonly string[]): Promise<Map<string, PackedLocation>> {
    const { rows } = await this.query<{ hash: string; pack: string; offset: string; size: number; inline: boolean }>(
      `SELECT encode(c.hash, 'hex') AS hash, p.pack, c."offset", c.size, p.data IS NOT NULL AS inline
       FROM block_chunks AS c JOIN block_packs AS p ON p.id = c.pack_id
       WHERE c.owner_key = decode($1, 'hex') AND c.hash IN (SELECT decode(h, 'hex') FROM unnest($2::text[]) AS h)`,
      [ownerKey, hashes],
    );
    return new Map(rows.map((r) => [r.hash, { pack: r.pack, offset: Number(r.offset), size: r.size, inline: r.inline }]));
  }

  async addPack(pack: string, bytes: number, entries: readonly PackEntry[], data?: Buffer): Promise<boolean[]> {
    if (data && data.length !== bytes) throw new RangeError(`inline pack ${pack}: ${data.length} bytes given for a pack of ${bytes}`);
    const { rows } = await this.query<{ n: string }>(ADD_PACK, [
      pack,
      bytes,
      entries.map((e) => e.ownerKey),
      entries.map((e) => e.hash),
      entries.map((e) => e.offset),
      entries.map((e) => e.size),
      data ?? null,
    ]);
    const recorded = entries.map(() => false);
    for (const { n } of rows) recorded[Number(n) - 1] = true;
    return recorded;
  }

  async readInline(pack: string, offset: number, sizes: readonly number[]): Promise<Buffer[] | undefined> {
    const length = sizes.reduce((total, size) => total + size, 0);
    // substring() counts from 1; past the end it returns what there is.
    const { rows } = await this.query<{ span: Buffer }>(
      "SELECT substring(data from $2::integer + 1 for $3::integer) AS span FROM block_packs WHERE pack = $1 AND data IS NOT NULL",
      [pack, offset, length],
    );
    const span = rows[0]?.span;
    if (!span) return undefined;
    const chunks: Buffer[] = [];
    let at = 0;
    for (const size of sizes) {
      if (at + size > span.length) break;
      chunks.push(span.subarray(at, at + size));
      at += size;
    }
    return chunks;
  }

  async remove(ownerKey: string, hashes: readonly string[]): Promise<string[]> {
    const { rows } = await this.query<{ hash: string }>(REMOVE, [ownerKey, hashes]);
    return rows.map((r) => r.hash);
  }

  async list(after: ChunkPosition | undefined, limit: number): Promise<ListedChunk[]> {
    // No position is the empty key, which every 32-byte key sorts after: one
    // statement for both cases, and the row comparison stays an index range.
    const { rows } = await this.query<{ owner_key: string; hash: string; size: number; stored_at: Date }>(
      `SELECT encode(owner_key, 'hex') AS owner_key, encode(hash, 'hex') AS hash, size, stored_at FROM block_chunks
       WHERE (owner_key, hash) > (decode($1, 'hex'), decode($2, 'hex'))
       ORDER BY owner_key, hash LIMIT $3`,
      [after?.ownerKey ?? "", after?.hash ?? "", limit],
    );
    return rows.map((r) => ({ ownerKey: r.owner_key, hash: r.hash, size: r.size, storedAt: r.stored_at }));
  }

  async check(): Promise<void> {
    await this.query("SELECT 1");
  }

  async claimSparsePacks(maxLiveRatio: number, writtenBefore: Date, claimMs: number, limit: number): Promise<SparsePack[]> {
    const { rows } = await this.query<{ pack: string; bytes: string; live_bytes: string; inline: boolean }>(CLAIM_SPARSE_PACKS, [
      maxLiveRatio,
      writtenBefore,
      claimMs,
      limit,
    ]);
    return rows.map((r) => ({ pack: r.pack, bytes: Number(r.bytes), liveBytes: Number(r.live_bytes), inline: r.inline }));
  }

  async liveEntries(pack: string): Promise<PackEntry[]> {
    const { rows } = await this.query<{ owner_key: string; hash: string; offset: string; size: number }>(
      `SELECT encode(c.owner_key, 'hex') AS owner_key, encode(c.hash, 'hex') AS hash, c."offset", c.size
       FROM block_chunks AS c JOIN block_packs AS p ON p.id = c.pack_id
       WHERE p.pack = $1 ORDER BY c."offset"`,
      [pack],
    );
    return rows.map((r) => ({ ownerKey: r.owner_key, hash: r.hash, offset: Number(r.offset), size: r.size }));
  }

  async movePack(
    from: string,
    to: { pack: string; bytes: number; entries: readonly PackEntry[] },
  ): Promise<{ moved: number; dropped: boolean }> {
    const client = await this.connect();
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<{ moved: string; remaining: number | null }>(MOVE_ENTRIES, [
        from,
        to.pack,
        to.bytes,
        to.entries.map((e) => e.ownerKey),
        to.entries.map((e) => e.hash),
        to.entries.map((e) => e.offset),
      ]);
      const { moved, remaining } = rows[0]!;
      // Its own statement: the one above cannot delete the row it updates.
      const dropped = remaining === 0 && (await client.query(DROP_EMPTY_PACK, [from])).rowCount === 1;
      await client.query("COMMIT");
      client.release();
      return { moved: Number(moved), dropped };
    } catch (err) {
      // A connection that cannot even roll back is broken: destroyed, not pooled again.
      await client.query("ROLLBACK").then(
        () => client.release(),
        (rollbackError: Error) => client.release(rollbackError),
      );
      throw translate(err);
    }
  }

  async dropEmptyPack(pack: string): Promise<boolean> {
    return (await this.query(DROP_EMPTY_PACK, [pack])).rowCount === 1;
  }

  async knownPacks(packs: readonly string[]): Promise<Set<string>> {
    const { rows } = await this.query<{ pack: string }>("SELECT pack FROM block_packs WHERE pack = ANY ($1::text[])", [packs]);
    return new Set(rows.map((r) => r.pack));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** Block storage's own migrations table, so that it may share metadata's database. */
  private async migrate(): Promise<void> {
    await applyMigrations(await this.connect(), { dir: MIGRATIONS_DIR, table: "block_index_migrations" }, this.log.child({ component: "block-index-migrations" }));
  }

  private async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(statement(this.names, text, values));
    } catch (err) {
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
 * Socket errors and SQLSTATEs (57P01 admin shutdown, 57P03 cannot connect
 * now) that mean the database is out of reach, not that the request is wrong.
 */
const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "57P01", "57P03"]);

/**
 * An outage of the database becomes UNAVAILABLE (which clients retry)
 * naming only its code; anything else stays an internal error, logged with
 * its cause. pg reports a connection lost mid-query and a pool that could
 * not connect in connectionTimeoutMillis by message only.
 */
function translate(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && CONNECTION_ERRORS.has(code)) return unavailable(`block index unavailable (${code})`, err);
  if (/Connection terminated/.test(err.message)) return unavailable("block index unavailable (connection terminated)", err);
  if (/timeout exceeded when trying to connect/.test(err.message)) return unavailable("block index unavailable (connect timeout)", err);
  return err;
}
