-- The change feed's position is per owner: owner_seq numbers one owner's
-- events 1, 2, 3... in the order they were recorded, so a cursor (and the
-- gaps between a user's cursors) says nothing about other users' activity.
-- owner_heads keeps each owner's highest number, also once pruning removed
-- the events; a trigger assigns it on every insert, in the insert's transaction.
ALTER TABLE sync_events ADD COLUMN owner_seq INTEGER;

CREATE TABLE owner_heads (
  owner TEXT    PRIMARY KEY,
  seq   INTEGER NOT NULL
) WITHOUT ROWID;

UPDATE sync_events SET owner_seq = r.n
FROM (SELECT seq, ROW_NUMBER() OVER (PARTITION BY owner ORDER BY seq) AS n FROM sync_events) AS r
WHERE r.seq = sync_events.seq;

INSERT INTO owner_heads (owner, seq) SELECT owner, MAX(owner_seq) FROM sync_events GROUP BY owner;

CREATE UNIQUE INDEX sync_events_owner_owner_seq ON sync_events (owner, owner_seq);

CREATE TRIGGER sync_events_assign_owner_seq AFTER INSERT ON sync_events
BEGIN
  INSERT INTO owner_heads (owner, seq) VALUES (NEW.owner, 1)
    ON CONFLICT (owner) DO UPDATE SET seq = seq + 1;
  UPDATE sync_events SET owner_seq = (SELECT seq FROM owner_heads WHERE owner = NEW.owner) WHERE seq = NEW.seq;
END;
