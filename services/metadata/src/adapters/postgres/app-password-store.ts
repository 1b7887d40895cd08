import type { AppPasswordRecord, AppPasswordStore } from "../../ports/app-password-store.js";
import type { PostgresDatabase } from "./database.js";

interface Row {
  id: string;
  owner: string;
  label: string;
  lookup_key: string;
  secret_hash: string;
  created_at: Date;
  last_used_at: Date | null;
}

const COLUMNS = "id, owner, label, lookup_key, secret_hash, created_at, last_used_at";

/** App passwords in the metadata service's PostgreSQL (migration 0008). */
export class PostgresAppPasswordStore implements AppPasswordStore {
  constructor(private readonly db: PostgresDatabase) {}

  async insert(record: Omit<AppPasswordRecord, "createdAt" | "lastUsedAt">): Promise<AppPasswordRecord | undefined> {
    const { rows } = await this.db.query<Row>(
      `INSERT INTO app_passwords (id, owner, label, lookup_key, secret_hash) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (lookup_key) DO NOTHING
       RETURNING ${COLUMNS}`,
      [record.id, record.owner, record.label, record.lookupKey, record.secretHash],
    );
    return rows[0] && toRecord(rows[0]);
  }

  async list(owner: string): Promise<AppPasswordRecord[]> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM app_passwords WHERE owner = $1 ORDER BY created_at DESC, id`, [owner]);
    return rows.map(toRecord);
  }

  async count(owner: string): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM app_passwords WHERE owner = $1`, [owner]);
    return Number(rows[0]!.n);
  }

  async remove(owner: string, id: string): Promise<boolean> {
    const result = await this.db.query(`DELETE FROM app_passwords WHERE owner = $1 AND id = $2`, [owner, id]);
    return (result.rowCount ?? 0) > 0;
  }

  async findByLookupKey(lookupKey: string): Promise<AppPasswordRecord | undefined> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM app_passwords WHERE lookup_key = $1`, [lookupKey]);
    return rows[0] && toRecord(rows[0]);
  }

  async markUsed(id: string): Promise<void> {
    await this.db.query(`UPDATE app_passwords SET last_used_at = now() WHERE id = $1`, [id]);
  }
}

function toRecord(r: Row): AppPasswordRecord {
  return {
    id: r.id,
    owner: r.owner,
    label: r.label,
    lookupKey: r.lookup_key,
    secretHash: r.secret_hash,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at ?? undefined,
  };
}
