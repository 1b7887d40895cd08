import type { OutboxStore } from "../../ports/outbox-store.js";
import type { EventType, OutboxEvent } from "../../domain/types.js";
import type { PostgresDatabase } from "./database.js";

/** The sync_outbox table, drained by the relay in seq order. */
export class PostgresOutboxStore implements OutboxStore {
  constructor(private readonly db: PostgresDatabase) {}

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
