-- Up Migration

-- Outbox events the sync service refused as malformed (INVALID_ARGUMENT) or
-- too large to take (RESOURCE_EXHAUSTED), each set aside alone so the events
-- behind it keep flowing. They keep their outbox seq and event id: retried
-- (the operator's `dead-letters retry`), an event goes back to the end of the
-- outbox, and one that did reach sync meanwhile is recorded once.
CREATE TABLE sync_outbox_dead_letters (
  seq           bigint PRIMARY KEY,
  event_id      uuid NOT NULL UNIQUE,
  owner         text NOT NULL,
  file_id       uuid NOT NULL,
  event_type    text NOT NULL,
  name          text NOT NULL,
  version       integer NOT NULL,
  size          bigint NOT NULL,
  sha256        text NOT NULL,
  chunk_sha256s text[] NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL,
  -- What the sync service answered.
  reason        text NOT NULL,
  set_aside_at  timestamptz NOT NULL DEFAULT now()
);
