import type { DavLockRecord, DavStateStore, DeadPropertyRecord } from "../../ports/dav-state-store.js";
import type { PostgresDatabase, Queryable } from "./database.js";

/** `path` is `$n` or under it ("" is the root, above everything). */
const under = (column: string, n: number) => `($${n} = '' OR ${column} = $${n} OR starts_with(${column}, $${n} || '/'))`;
/** `$n` is `path` or under it: the rows at `path`'s ancestors and itself. */
const aboveOrAt = (column: string, n: number) => `(${column} = '' OR ${column} = $${n} OR starts_with($${n}, ${column} || '/'))`;

interface LockRow {
  token: string;
  path: string;
  infinite: boolean;
  exclusive: boolean;
  owner_xml: string;
  expires_at: Date;
}

/** DavStateService's tables (migration 0009). */
export class PostgresDavStateStore implements DavStateStore {
  constructor(private readonly db: PostgresDatabase) {}

  async createFolder(owner: string, path: string): Promise<boolean> {
    const result = await this.db.query(`INSERT INTO dav_folders (owner, path) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [owner, path]);
    return (result.rowCount ?? 0) > 0;
  }

  async listFolders(owner: string, path: string): Promise<string[]> {
    const { rows } = await this.db.query<{ path: string }>(`SELECT path FROM dav_folders WHERE owner = $1 AND ${under("path", 2)} ORDER BY path`, [owner, path]);
    return rows.map((r) => r.path);
  }

  removePaths(owner: string, path: string): Promise<void> {
    return this.db.transaction((db) => removeUnder(db, owner, path));
  }

  movePaths(owner: string, from: string, to: string, copy: boolean): Promise<void> {
    return this.db.transaction(async (db) => {
      await removeUnder(db, owner, to);
      // $2 is never "" here (the root is not moved): the rest of each path follows the new prefix.
      const renamed = `$3 || substr(path, char_length($2) + 1)`;
      if (copy) {
        await db.query(`INSERT INTO dav_folders (owner, path) SELECT owner, ${renamed} FROM dav_folders WHERE owner = $1 AND ${under("path", 2)}`, [owner, from, to]);
        await db.query(
          `INSERT INTO dav_properties (owner, path, namespace, name, xml)
           SELECT owner, ${renamed}, namespace, name, xml FROM dav_properties WHERE owner = $1 AND ${under("path", 2)}`,
          [owner, from, to],
        );
      } else {
        await db.query(`UPDATE dav_folders SET path = ${renamed} WHERE owner = $1 AND ${under("path", 2)}`, [owner, from, to]);
        await db.query(`UPDATE dav_properties SET path = ${renamed} WHERE owner = $1 AND ${under("path", 2)}`, [owner, from, to]);
      }
    });
  }

  async getProperties(owner: string, paths: readonly string[]): Promise<DeadPropertyRecord[]> {
    if (paths.length === 0) return [];
    const { rows } = await this.db.query<DeadPropertyRecord>(
      `SELECT path, namespace, name, xml FROM dav_properties WHERE owner = $1 AND path = ANY($2::text[]) ORDER BY path, namespace, name`,
      [owner, [...paths]],
    );
    return rows;
  }

  updateProperties(owner: string, path: string, set: readonly DeadPropertyRecord[], remove: ReadonlyArray<{ namespace: string; name: string }>): Promise<void> {
    return this.db.transaction(async (db) => {
      for (const p of set) {
        await db.query(
          `INSERT INTO dav_properties (owner, path, namespace, name, xml) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (owner, path, namespace, name) DO UPDATE SET xml = EXCLUDED.xml`,
          [owner, path, p.namespace, p.name, p.xml],
        );
      }
      for (const p of remove) {
        await db.query(`DELETE FROM dav_properties WHERE owner = $1 AND path = $2 AND namespace = $3 AND name = $4`, [owner, path, p.namespace, p.name]);
      }
    });
  }

  lock(owner: string, lock: DavLockRecord, admit: (overlapping: readonly DavLockRecord[]) => boolean): Promise<DavLockRecord | undefined> {
    return this.db.transaction(async (db) => {
      // One lock decision per owner at a time: two clients cannot both take an exclusive lock.
      await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 7613))`, [owner]);
      await db.query(`DELETE FROM dav_locks WHERE owner = $1 AND expires_at <= now()`, [owner]);
      const { rows } = await db.query<LockRow>(
        `SELECT token, path, infinite, exclusive, owner_xml, expires_at FROM dav_locks
         WHERE owner = $1 AND (${aboveOrAt("path", 2)} OR ($3 AND ${under("path", 2)}))`,
        [owner, lock.path, lock.infinite],
      );
      if (!admit(rows.map(toLock))) return undefined;
      await db.query(
        `INSERT INTO dav_locks (token, owner, path, infinite, exclusive, owner_xml, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [lock.token, owner, lock.path, lock.infinite, lock.exclusive, lock.ownerXml, lock.expiresAt],
      );
      return lock;
    });
  }

  async refreshLock(owner: string, token: string, expiresAt: Date): Promise<DavLockRecord | undefined> {
    const { rows } = await this.db.query<LockRow>(
      `UPDATE dav_locks SET expires_at = $3 WHERE owner = $1 AND token = $2 AND expires_at > now()
       RETURNING token, path, infinite, exclusive, owner_xml, expires_at`,
      [owner, token, expiresAt],
    );
    return rows[0] && toLock(rows[0]);
  }

  async unlock(owner: string, token: string): Promise<boolean> {
    const result = await this.db.query(`DELETE FROM dav_locks WHERE owner = $1 AND token = $2 AND expires_at > now()`, [owner, token]);
    return (result.rowCount ?? 0) > 0;
  }

  async listLocks(owner: string, path: string, descendants: boolean): Promise<DavLockRecord[]> {
    const { rows } = await this.db.query<LockRow>(
      `SELECT token, path, infinite, exclusive, owner_xml, expires_at FROM dav_locks
       WHERE owner = $1 AND expires_at > now() AND (${aboveOrAt("path", 2)} OR ($3 AND ${under("path", 2)}))
       ORDER BY path, token`,
      [owner, path, descendants],
    );
    return rows.map(toLock);
  }
}

async function removeUnder(db: Queryable, owner: string, path: string): Promise<void> {
  await db.query(`DELETE FROM dav_folders WHERE owner = $1 AND ${under("path", 2)}`, [owner, path]);
  await db.query(`DELETE FROM dav_properties WHERE owner = $1 AND ${under("path", 2)}`, [owner, path]);
}

function toLock(r: LockRow): DavLockRecord {
  return { token: r.token, path: r.path, infinite: r.infinite, exclusive: r.exclusive, ownerXml: r.owner_xml, expiresAt: r.expires_at };
}
