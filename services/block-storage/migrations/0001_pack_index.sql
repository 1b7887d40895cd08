-- Up Migration

-- One row per pack object. live_bytes and live_chunks are what block_chunks
-- still points into it, kept by the same statement (or transaction) that
-- adds, removes or moves entries, so the repacker finds sparse packs without
-- counting chunks. The CHECKs turn a counter that drifted into an error
-- instead of a pack that is never repacked or dropped.
CREATE TABLE block_packs (
  id          bigserial PRIMARY KEY,
  pack        text NOT NULL UNIQUE,
  bytes       bigint NOT NULL CHECK (bytes >= 0),
  live_bytes  bigint NOT NULL CHECK (live_bytes >= 0),
  live_chunks integer NOT NULL CHECK (live_chunks >= 0),
  recorded_at timestamptz NOT NULL DEFAULT now(),
  -- When a repacker last claimed it; NULL when none ever did.
  claimed_at  timestamptz
);

-- The repacker's claim walks packs emptiest first and stops at the first one
-- fuller than the ratio it asked for, whatever the number of full packs.
-- (greatest() keeps an empty object from dividing by zero; the claim uses
-- the very same expression.)
CREATE INDEX block_packs_fullness ON block_packs ((live_bytes::float8 / greatest(bytes, 1)));

-- Keys are the raw 32 bytes of the hex digests the service passes: half the
-- size of text, and bytea compares byte-wise, which is the order of the
-- lowercase hex (list() pages in it).
CREATE TABLE block_chunks (
  owner_key bytea NOT NULL,
  hash      bytea NOT NULL,
  pack_id   bigint NOT NULL REFERENCES block_packs (id),
  "offset"  bigint NOT NULL CHECK ("offset" >= 0),
  size      integer NOT NULL CHECK (size >= 0),
  stored_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner_key, hash)
);
-- A pack's live entries in offset order: repacking, whether it can be
-- dropped, and the chunks a download reads next (locateRun).
CREATE INDEX block_chunks_pack_offset ON block_chunks (pack_id, "offset");
