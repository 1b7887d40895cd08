-- The "damaged" event type (issue 12): metadata reports each file whose
-- newest version lists a chunk block storage found corrupt and quarantined.
-- SQLite cannot change a CHECK constraint in place: sync_events is rebuilt as
-- in 0004, with every column, index and trigger, its AUTOINCREMENT position
-- carried over (no seq is ever reused) and the delete events' chunk lists
-- kept aside while the table they reference is replaced.
CREATE TABLE sync_event_chunks_kept AS SELECT event_seq, sha256 FROM sync_event_chunks;
CREATE TABLE sync_events_seq_kept AS SELECT seq FROM sqlite_sequence WHERE name = 'sync_events';
DROP TRIGGER sync_event_counts_insert;
DROP TRIGGER sync_event_counts_update;
DROP TRIGGER sync_events_deleted;
DROP TRIGGER sync_events_assign_owner_seq;
DROP TABLE sync_event_chunks;

CREATE TABLE sync_events_rebuilt (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id      TEXT    NOT NULL UNIQUE,
  file_id       TEXT    NOT NULL,
  owner         TEXT    NOT NULL,
  event_type    TEXT    NOT NULL
                        CHECK (event_type IN ('upload', 'update', 'delete', 'move', 'restore', 'trash', 'undelete', 'purge', 'damaged')),
  status        TEXT    NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
  attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  error_message TEXT    NOT NULL DEFAULT '',
  name          TEXT    NOT NULL,
  version       INTEGER NOT NULL CHECK (version >= 0),
  size          INTEGER NOT NULL CHECK (size >= 0),
  sha256        TEXT    NOT NULL,
  -- Milliseconds since the Unix epoch (UTC).
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  sync_status     TEXT    NOT NULL DEFAULT '' CHECK (sync_status IN ('', 'synchronized', 'inconsistent')),
  chunks_verified INTEGER NOT NULL DEFAULT 0 CHECK (chunks_verified >= 0),
  total_chunks    INTEGER NOT NULL DEFAULT 0 CHECK (total_chunks >= 0),
  chunks_rehashed INTEGER NOT NULL DEFAULT 0 CHECK (chunks_rehashed >= 0),
  action          TEXT    NOT NULL DEFAULT '',
  verified_at     INTEGER,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  owner_seq       INTEGER
);
INSERT INTO sync_events_rebuilt (seq, event_id, file_id, owner, event_type, status, attempts, error_message, name, version, size,
                                 sha256, created_at, updated_at, sync_status, chunks_verified, total_chunks, chunks_rehashed,
                                 action, verified_at, next_attempt_at, owner_seq)
  SELECT seq, event_id, file_id, owner, event_type, status, attempts, error_message, name, version, size,
         sha256, created_at, updated_at, sync_status, chunks_verified, total_chunks, chunks_rehashed,
         action, verified_at, next_attempt_at, owner_seq
  FROM sync_events;
DROP TABLE sync_events;
ALTER TABLE sync_events_rebuilt RENAME TO sync_events;
UPDATE sqlite_sequence SET seq = max(seq, COALESCE((SELECT seq FROM sync_events_seq_kept), 0)) WHERE name = 'sync_events';
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'sync_events', seq FROM sync_events_seq_kept WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'sync_events');
DROP TABLE sync_events_seq_kept;

CREATE INDEX sync_events_owner_seq ON sync_events (owner, seq);
CREATE INDEX sync_events_owner_file_seq ON sync_events (owner, file_id, seq);
CREATE INDEX sync_events_status ON sync_events (status);
CREATE UNIQUE INDEX sync_events_owner_owner_seq ON sync_events (owner, owner_seq);

CREATE TABLE sync_event_chunks (
  event_seq INTEGER NOT NULL REFERENCES sync_events (seq) ON DELETE CASCADE,
  sha256    TEXT    NOT NULL,
  PRIMARY KEY (event_seq, sha256)
) WITHOUT ROWID;
INSERT INTO sync_event_chunks (event_seq, sha256) SELECT event_seq, sha256 FROM sync_event_chunks_kept;
DROP TABLE sync_event_chunks_kept;

CREATE TRIGGER sync_event_counts_insert AFTER INSERT ON sync_events
BEGIN
  INSERT INTO sync_event_counts (event_type, status, n) VALUES (NEW.event_type, NEW.status, 1)
    ON CONFLICT (event_type, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER sync_event_counts_update AFTER UPDATE OF status ON sync_events
  WHEN OLD.status <> NEW.status
BEGIN
  UPDATE sync_event_counts SET n = n - 1 WHERE event_type = OLD.event_type AND status = OLD.status;
  INSERT INTO sync_event_counts (event_type, status, n) VALUES (NEW.event_type, NEW.status, 1)
    ON CONFLICT (event_type, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER sync_events_deleted AFTER DELETE ON sync_events
BEGIN
  UPDATE sync_event_counts SET n = n - 1 WHERE event_type = OLD.event_type AND status = OLD.status;
  DELETE FROM sync_event_chunks WHERE event_seq = OLD.seq;
END;

CREATE TRIGGER sync_events_assign_owner_seq AFTER INSERT ON sync_events
BEGIN
  INSERT INTO owner_heads (owner, seq) VALUES (NEW.owner, 1)
    ON CONFLICT (owner) DO UPDATE SET seq = seq + 1;
  UPDATE sync_events SET owner_seq = (SELECT seq FROM owner_heads WHERE owner = NEW.owner) WHERE seq = NEW.seq;
END;
