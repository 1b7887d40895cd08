-- Up Migration

-- Small packs kept in the index itself: the whole pack's bytes, NULL for a
-- pack stored as an object. A small upload then costs one statement here
-- instead of an object PUT and then that statement (MinIO keeps objects this
-- small inside its metadata file too). Such a pack is never rewritten; its
-- row, and with it its bytes, goes once the last chunk in it is deleted.
ALTER TABLE block_packs ADD COLUMN data bytea;
