import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPglite } from "../support/pglite.js";

// The chart's migration Job runs the metadata image with CFS_MIGRATE_ONLY=true.
const run = promisify(execFile);
const MAIN = fileURLToPath(new URL("../../services/metadata/src/main.ts", import.meta.url));
let db: Awaited<ReturnType<typeof startPglite>>;

beforeAll(async () => {
  db = await startPglite();
});
afterAll(() => db?.stop());

const migrate = () =>
  run(process.execPath, ["--import", "tsx", MAIN], {
    env: { PATH: process.env.PATH, CFS_MIGRATE_ONLY: "true", CFS_DATABASE_URL: db.url, CFS_DATABASE_POOL_MAX: "1" },
    timeout: 60_000,
  });

describe("metadata CFS_MIGRATE_ONLY", () => {
  it("applies the schema without auth settings, exits 0, and is safe to run twice", async () => {
    await migrate();
    await migrate();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      expect(rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(["file_chunks", "file_versions", "files", "gc_candidates", "sync_outbox"]));
    } finally {
      await client.end();
    }
  });

  it("fails with a non-zero exit when the database is unreachable", async () => {
    const failure = await run(process.execPath, ["--import", "tsx", MAIN], {
      env: { PATH: process.env.PATH, CFS_MIGRATE_ONLY: "true", CFS_DATABASE_URL: "postgres://x@127.0.0.1:9/none" },
      timeout: 60_000,
    }).catch((err: { code: number }) => err);
    expect((failure as { code: number }).code).toBe(1);
  });
});
