-- Up Migration

-- App passwords (AppPasswordService): the secret only as a salted scrypt hash; the
-- lookup key (its first 8 characters) finds the row in one index lookup. A revoked
-- password is deleted: nothing of it is needed afterwards.
CREATE TABLE app_passwords (
  id           uuid PRIMARY KEY,
  owner        text NOT NULL,
  label        text NOT NULL,
  lookup_key   text NOT NULL UNIQUE,
  secret_hash  text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz
);
CREATE INDEX app_passwords_owner ON app_passwords (owner, created_at);
