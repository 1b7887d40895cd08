import { randomBytes } from "node:crypto";
import pg from "pg";

/**
 * A fresh database on the real PostgreSQL server that scripts/ensure-postgres.sh
 * started (or on CFS_TEST_DATABASE_URL's server), dropped on cleanup.
 */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = process.env.CFS_TEST_DATABASE_URL ?? "postgres://cfs_test:cfs_test@127.0.0.1:5432/postgres";
  const name = `cfs_test_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
