-- Up Migration

-- One row per (owner, name). Names compare byte-wise (COLLATE "C") so the
-- keyset pagination order is the same on every server, whatever its locale.
CREATE TABLE files (
  file_id         uuid PRIMARY KEY,
  owner           text NOT NULL,
  name            text COLLATE "C" NOT NULL,
  current_version integer NOT NULL CHECK (current_version >= 1),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (owner, name)
);

CREATE TABLE file_versions (
  file_id      uuid NOT NULL REFERENCES files (file_id) ON DELETE CASCADE,
  version      integer NOT NULL CHECK (version >= 1),
  size         bigint NOT NULL CHECK (size >= 0),
  sha256       text NOT NULL,
  content_type text NOT NULL,
  num_chunks   integer NOT NULL CHECK (num_chunks >= 0),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (file_id, version)
);

-- owner is repeated here so "does any file of this owner still use this
-- chunk?" (delete and collector) is one index lookup without joins.
CREATE TABLE file_chunks (
  file_id     uuid NOT NULL,
  version     integer NOT NULL,
  chunk_index integer NOT NULL CHECK (chunk_index >= 0),
  owner       text NOT NULL,
  sha256      text NOT NULL,
  size        integer NOT NULL CHECK (size > 0),
  "offset"    bigint NOT NULL CHECK ("offset" >= 0),
  PRIMARY KEY (file_id, version, chunk_index),
  FOREIGN KEY (file_id, version) REFERENCES file_versions (file_id, version) ON DELETE CASCADE
);
CREATE INDEX file_chunks_owner_sha256 ON file_chunks (owner, sha256);

-- Sync events written in the same transaction as the change they describe;
-- the relay sends them to the sync service in seq order and deletes them.
CREATE TABLE sync_outbox (
  seq        bigserial PRIMARY KEY,
  event_id   uuid NOT NULL UNIQUE,
  owner      text NOT NULL,
  file_id    uuid NOT NULL,
  event_type text NOT NULL CHECK (event_type IN ('upload', 'update', 'delete')),
  name       text NOT NULL,
  version    integer NOT NULL,
  size       bigint NOT NULL,
  sha256     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Chunks that lost their last reference; the collector deletes them from
-- block storage once they are older than the grace period.
CREATE TABLE gc_candidates (
  owner     text NOT NULL,
  sha256    text NOT NULL,
  queued_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, sha256)
);
CREATE INDEX gc_candidates_queued_at ON gc_candidates (queued_at);
