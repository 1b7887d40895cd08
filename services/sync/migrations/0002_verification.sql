-- Background verification of each event against metadata and block storage.
-- sync_status/chunks_*/action/verified_at hold the result (verified_at NULL:
-- not verified yet); next_attempt_at (ms since the epoch) delays a retry
-- after a transient failure. New columns keep their defaults on old rows.
ALTER TABLE sync_events ADD COLUMN sync_status     TEXT    NOT NULL DEFAULT ''
  CHECK (sync_status IN ('', 'synchronized', 'inconsistent'));
ALTER TABLE sync_events ADD COLUMN chunks_verified INTEGER NOT NULL DEFAULT 0 CHECK (chunks_verified >= 0);
ALTER TABLE sync_events ADD COLUMN total_chunks    INTEGER NOT NULL DEFAULT 0 CHECK (total_chunks >= 0);
ALTER TABLE sync_events ADD COLUMN chunks_rehashed INTEGER NOT NULL DEFAULT 0 CHECK (chunks_rehashed >= 0);
ALTER TABLE sync_events ADD COLUMN action          TEXT    NOT NULL DEFAULT '';
ALTER TABLE sync_events ADD COLUMN verified_at     INTEGER;
ALTER TABLE sync_events ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0;

-- Delete events: the distinct chunk hashes the deleted file used (the input
-- of verifying the delete). Kept apart so listing rows stay small.
CREATE TABLE sync_event_chunks (
  event_seq INTEGER NOT NULL REFERENCES sync_events (seq) ON DELETE CASCADE,
  sha256    TEXT    NOT NULL,
  PRIMARY KEY (event_seq, sha256)
) WITHOUT ROWID;

-- Events per type and status, kept by triggers so that the metrics scrape
-- reads a handful of rows instead of counting the whole history.
CREATE TABLE sync_event_counts (
  event_type TEXT    NOT NULL,
  status     TEXT    NOT NULL,
  n          INTEGER NOT NULL,
  PRIMARY KEY (event_type, status)
) WITHOUT ROWID;

INSERT INTO sync_event_counts (event_type, status, n)
  SELECT event_type, status, count(*) FROM sync_events GROUP BY event_type, status;

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

-- Also drops the event's chunk hashes: the foreign key cascades only on
-- connections that enabled foreign_keys, and retention may prune from another.
CREATE TRIGGER sync_events_deleted AFTER DELETE ON sync_events
BEGIN
  UPDATE sync_event_counts SET n = n - 1 WHERE event_type = OLD.event_type AND status = OLD.status;
  DELETE FROM sync_event_chunks WHERE event_seq = OLD.seq;
END;
