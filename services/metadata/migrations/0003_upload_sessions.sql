-- Up Migration

-- Upload sessions (cfs.metadata.v1.UploadSessionService): a file's chunk
-- list declared page by page before its missing chunks are sent, so an
-- upload can resume after any process dies. A session is its owner's only.
CREATE TABLE upload_sessions (
  upload_id       uuid PRIMARY KEY,
  owner           text NOT NULL,
  name            text COLLATE "C" NOT NULL,
  content_type    text NOT NULL,
  size            bigint NOT NULL CHECK (size >= 0),
  -- What the client declared, checked at commit; NULL when it declared none.
  sha256          text,
  chunk_count     integer NOT NULL CHECK (chunk_count >= 0),
  chunks_declared integer NOT NULL DEFAULT 0 CHECK (chunks_declared >= 0 AND chunks_declared <= chunk_count),
  bytes_declared  bigint NOT NULL DEFAULT 0 CHECK (bytes_declared >= 0 AND bytes_declared <= size),
  -- Set once the whole list is declared (see file_versions.chunk_list_digest).
  chunk_list_digest text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  -- Set by the commit, in its transaction: FinishUpload retried after a lost
  -- reply returns this version instead of committing again.
  committed_file_id uuid,
  committed_version integer
);
CREATE INDEX upload_sessions_expires_at ON upload_sessions (expires_at);

-- owner is repeated so "does anything still need this chunk?" (the
-- collector) finds session chunks with one index lookup.
CREATE TABLE upload_session_chunks (
  upload_id   uuid NOT NULL REFERENCES upload_sessions (upload_id) ON DELETE CASCADE,
  chunk_index integer NOT NULL CHECK (chunk_index >= 0),
  owner       text NOT NULL,
  sha256      text NOT NULL,
  size        integer NOT NULL CHECK (size > 0),
  "offset"    bigint NOT NULL CHECK ("offset" >= 0),
  PRIMARY KEY (upload_id, chunk_index)
);
CREATE INDEX upload_session_chunks_owner_sha256 ON upload_session_chunks (owner, sha256);

-- A digest of a version's chunk list (SHA-256 over "<sha256>:<size>\n" per
-- chunk, in order): versions with the same digest have the same content,
-- so an upload whose list matches one needs no content hashing. NULL for
-- versions committed before it existed.
ALTER TABLE file_versions ADD COLUMN chunk_list_digest text;
CREATE INDEX file_versions_chunk_list_digest ON file_versions (chunk_list_digest) WHERE chunk_list_digest IS NOT NULL;

-- Commits made under an idempotency key: UploadMetadata.idempotency_key,
-- or "session:<upload_id>" for an upload session. A retried commit finds
-- its key and returns that version instead of committing again. Kept for a
-- day (longer than any session), and never longer than the version.
CREATE TABLE commit_keys (
  owner      text NOT NULL,
  key        text NOT NULL,
  file_id    uuid NOT NULL,
  version    integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, key),
  FOREIGN KEY (file_id, version) REFERENCES file_versions (file_id, version) ON DELETE CASCADE
);
CREATE INDEX commit_keys_created_at ON commit_keys (created_at);
