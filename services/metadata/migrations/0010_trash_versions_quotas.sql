-- Up Migration

-- The trash (issue 11): DeleteFile sets deleted_at instead of deleting. A
-- trashed file keeps its name, but the name is free for a new file: names
-- are unique among the files outside the trash only. Its versions and chunk
-- lists stay, so its chunks stay referenced until it is purged.
ALTER TABLE files ADD COLUMN deleted_at timestamptz;
ALTER TABLE files DROP CONSTRAINT files_owner_name_key;
CREATE UNIQUE INDEX files_owner_name_live ON files (owner, name) WHERE deleted_at IS NULL;
-- ListTrash (newest first, keyset on deleted_at, file_id) and the retention sweep.
CREATE INDEX files_owner_trash ON files (owner, deleted_at DESC, file_id DESC) WHERE deleted_at IS NOT NULL;
CREATE INDEX files_trash_deleted_at ON files (deleted_at) WHERE deleted_at IS NOT NULL;
-- The version retention sweep finds versions by age.
CREATE INDEX file_versions_created_at ON file_versions (created_at);

-- One row per owner: what the quota counts (the newest version of every
-- file, trash included), kept in step by every transaction that changes it.
-- Those transactions lock this row first, so an owner's commits, restores
-- and undeletes are serialized and concurrent uploads near the quota never
-- commit more than it.
CREATE TABLE owner_usage (
  owner       text PRIMARY KEY,
  -- Newest versions of the files outside the trash.
  live_bytes  bigint NOT NULL DEFAULT 0 CHECK (live_bytes >= 0),
  file_count  bigint NOT NULL DEFAULT 0 CHECK (file_count >= 0),
  -- Newest versions of the files in the trash.
  trash_bytes bigint NOT NULL DEFAULT 0 CHECK (trash_bytes >= 0),
  -- SetQuota's override; NULL: CFS_DEFAULT_QUOTA_BYTES; 0: unlimited.
  quota_bytes bigint CHECK (quota_bytes >= 0)
);

INSERT INTO owner_usage (owner, live_bytes, file_count)
  SELECT f.owner, sum(v.size), count(*)
  FROM files f JOIN file_versions v ON v.file_id = f.file_id AND v.version = f.current_version
  GROUP BY f.owner;

-- The catalogue's new sync events.
ALTER TABLE sync_outbox DROP CONSTRAINT sync_outbox_event_type_check;
ALTER TABLE sync_outbox ADD CONSTRAINT sync_outbox_event_type_check
  CHECK (event_type IN ('upload', 'update', 'delete', 'move', 'restore', 'trash', 'undelete', 'purge'));
