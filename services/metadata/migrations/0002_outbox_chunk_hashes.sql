-- Up Migration

-- Delete events carry the distinct chunk hashes of every version of the
-- deleted file, so that the sync service can verify that each one is either
-- still used by another file, queued for the collector, or gone from block
-- storage. Upload and update events leave it empty.
ALTER TABLE sync_outbox ADD COLUMN chunk_sha256s text[] NOT NULL DEFAULT '{}';
