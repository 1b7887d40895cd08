#!/usr/bin/env bash
# Starts the machine's PostgreSQL 15 cluster (installed, stopped by default)
# and makes sure the role the tests use exists. Idempotent.
#   CFS_TEST_DATABASE_URL, when set, points at a server the caller manages:
#   then nothing is started here.
set -euo pipefail
if [ -n "${CFS_TEST_DATABASE_URL:-}" ]; then exit 0; fi
if ! command -v pg_ctlcluster >/dev/null; then
  echo "ensure-postgres: PostgreSQL is not installed; installing it (Debian package postgresql)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(pg_lsclusters -h | awk 'NR==1{print $1}')
cluster=$(pg_lsclusters -h | awk 'NR==1{print $2}')
if ! pg_lsclusters -h | awk 'NR==1{print $4}' | grep -q online; then
  pg_ctlcluster "$version" "$cluster" start
fi
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.2
done
# Over the local socket (peer auth as the postgres OS user), never a password.
su postgres -c "psql -q -v ON_ERROR_STOP=1" >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cfs_test') THEN
    CREATE ROLE cfs_test LOGIN PASSWORD 'cfs_test' CREATEDB;
  END IF;
END $$;
SQL
