import type { DeadLetter, DeadLetters } from "../../ports/dead-letters.js";
import type { OutboxStore } from "../../ports/outbox-store.js";
import type { EventType, OutboxEvent } from "../../domain/types.js";
import type { PostgresDatabase } from "./database.js";

const COLUMNS = "event_id, owner, file_id, event_type, name, version, size, sha256, chunk_sha256s, created_at";

/**
 * The sync_outbox table, drained by the relay in seq order, and its dead
 * letters (sync_outbox_dead_letters), which an operator lists and retries.
 */
export class PostgresOutboxStore implements OutboxStore, DeadLetters {
  constructor(private readonly db: PostgresDatabase) {}

  async setAside(event: OutboxEvent, reason: string): Promise<void> {
    await this.db.query(
      `WITH moved AS (DELETE FROM sync_outbox WHERE seq = $1 RETURNING seq, ${COLUMNS})
       INSERT INTO sync_outbox_dead_letters (seq, ${COLUMNS}, reason)
       SELECT seq, ${COLUMNS}, $2 FROM moved
       ON CONFLICT (seq) DO NOTHING`,
      [event.seq, reason.slice(0, 2000)],
    );
  }

  async deadLetterCount(): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM sync_outbox_dead_letters`);
    return Number(rows[0]!.n);
  }

  async listDeadLetters(limit: number): Promise<DeadLetter[]> {
    const { rows } = await this.db.query<{ seq: string; event_id: string; owner: string; file_id: string; event_type: string; name: string; reason: string; set_aside_at: Date }>(
      `SELECT seq, event_id, owner, file_id, event_type, name, reason, set_aside_at FROM sync_outbox_dead_letters ORDER BY seq LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      seq: String(r.seq),
      eventId: r.event_id,
      owner: r.owner,
      fileId: r.file_id,
      eventType: r.event_type,
      name: r.name,
      reason: r.reason,
      setAsideAt: r.set_aside_at,
    }));
  }

  async retryDeadLetters(seqs: readonly string[] | "all"): Promise<number> {
    const result = await this.db.query(
      `WITH back AS (DELETE FROM sync_outbox_dead_letters WHERE $1::bigint[] IS NULL OR seq = ANY($1::bigint[]) RETURNING ${COLUMNS})
       INSERT INTO sync_outbox (${COLUMNS}) SELECT ${COLUMNS} FROM back ORDER BY created_at
       ON CONFLICT (event_id) DO NOTHING`,
      [seqs === "all" ? null : [...seqs]],
    );
    return result.rowCount ?? 0;
  }

  async pendingEvents(limit: number): Promise<OutboxEvent[]> {
    const { rows } = await this.db.query<{
      seq: string;
      event_id: string;
      owner: string;
      file_id: string;
      event_type: EventType;
      name: string;
      version: number;
      size: string;
      sha256: string;
      chunk_sha256s: string[];
      created_at: Date;
    }>(
      `SELECT seq, event_id, owner, file_id, event_type, name, version, size, sha256, chunk_sha256s, created_at
       FROM sync_outbox ORDER BY seq LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      seq: String(r.seq),
      eventId: r.event_id,
      owner: r.owner,
      fileId: r.file_id,
      eventType: r.event_type,
      name: r.name,
      version: r.version,
      size: Number(r.size),
      sha256: r.sha256,
      chunkSha256s: r.chunk_sha256s,
      createdAt: r.created_at,
    }));
  }

  async removeEvents(seqs: readonly string[]): Promise<void> {
    if (seqs.length === 0) return;
    await this.db.query(`DELETE FROM sync_outbox WHERE seq = ANY($1::bigint[])`, [[...seqs]]);
  }
}
