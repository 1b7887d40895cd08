import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type Sqlite from "better-sqlite3";

export interface Migration {
  version: number;
  file: string;
  sql: string;
}

const MIGRATION_FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;

/**
 * Reads NNNN_name.sql files in version order. Versions must run 1, 2, 3...
 * without gaps or duplicates: a missing file would otherwise be skipped on
 * fresh databases but not on old ones, and the schemas would drift apart.
 * Files hold plain DDL, no BEGIN/COMMIT: `migrate` wraps each one.
 */
export function loadMigrations(dir: string): Migration[] {
  const migrations = readdirSync(dir)
    .filter((file) => file.endsWith(".sql"))
    .map((file) => {
      const match = MIGRATION_FILE.exec(file);
      if (!match) throw new Error(`migration ${file}: the name must look like 0001_create_things.sql`);
      return { version: Number(match[1]), file, sql: readFileSync(join(dir, file), "utf8") };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.file}: expected version ${i + 1} (versions must be 1, 2, 3... once each)`);
  });
  return migrations;
}

/**
 * Applies the migrations newer than the database's PRAGMA user_version, each
 * in its own transaction together with the version bump, so a failure leaves
 * the schema at the previous version. Transactions are IMMEDIATE and the
 * version is re-read inside them: of two processes starting on one file, the
 * second waits for the first and then finds nothing to do.
 */
export function migrate(db: Sqlite.Database, migrations: readonly Migration[]): { from: number; to: number } {
  const userVersion = () => db.pragma("user_version", { simple: true }) as number;
  const from = userVersion();
  const latest = migrations.at(-1)?.version ?? 0;
  if (from > latest) {
    // Written by a newer build: running old code on it could corrupt data.
    throw new Error(`database schema version ${from} is newer than this build's ${latest}`);
  }
  for (const migration of migrations) {
    db.transaction(() => {
      if (userVersion() >= migration.version) return;
      db.exec(migration.sql);
      // PRAGMA does not take bound parameters; version is an integer we parsed.
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
  return { from, to: userVersion() };
}
