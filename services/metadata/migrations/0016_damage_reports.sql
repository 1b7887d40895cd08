-- Up Migration

-- Damage reports (issue 12): for a chunk block storage found corrupt and
-- quarantined, a "damaged" sync event per file whose newest version lists it.
ALTER TABLE sync_outbox DROP CONSTRAINT sync_outbox_event_type_check;
ALTER TABLE sync_outbox ADD CONSTRAINT sync_outbox_event_type_check
  CHECK (event_type IN ('upload', 'update', 'delete', 'move', 'restore', 'trash', 'undelete', 'purge', 'damaged'));

-- Each quarantine reported, written in the transaction of its events: the
-- reporter reads block storage's quarantine again from a little before the
-- newest one here (a quarantine may become visible late), and a quarantine
-- already here is never reported twice. A chunk stored again and found
-- corrupt again is a new quarantine, reported again.
CREATE TABLE quarantine_reports (
  quarantined_at timestamptz NOT NULL,
  owner_key      text NOT NULL,
  sha256         text NOT NULL,
  -- The files reported damaged (0: no file's newest version lists the chunk).
  files          integer NOT NULL CHECK (files >= 0),
  reported_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (quarantined_at, owner_key, sha256)
);
