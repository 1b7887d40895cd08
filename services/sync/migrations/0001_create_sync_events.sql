-- One row per committed change, relayed by the metadata service's outbox.
-- seq orders events as they were recorded: the list pages on it now, and the
-- change feed will resume from it. status/attempts/error_message are for the
-- background verification, which claims pending rows by status.
CREATE TABLE sync_events (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id      TEXT    NOT NULL UNIQUE,
  file_id       TEXT    NOT NULL,
  owner         TEXT    NOT NULL,
  event_type    TEXT    NOT NULL CHECK (event_type IN ('upload', 'update', 'delete')),
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
  updated_at    INTEGER NOT NULL
);

CREATE INDEX sync_events_owner_seq ON sync_events (owner, seq);
CREATE INDEX sync_events_owner_file_seq ON sync_events (owner, file_id, seq);
CREATE INDEX sync_events_status ON sync_events (status);
