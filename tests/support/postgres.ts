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
      try {
        // FORCE cannot end a superuser's backend, and an autovacuum worker on the database is
        // one ("must be a member of the role whose process is being terminated"): it is done
        // within moments, so the drop is tried again until it goes through (at most ~10 s).
        for (let attempt = 1; ; attempt++) {
          try {
            await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
            return;
          } catch (err) {
            if (attempt >= 100 || (err as { code?: string }).code !== "42501") throw err;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
      } finally {
        await c.end();
      }
    },
  };
}

export interface PostgresServer {
  url: string;
  /** Stops the server (fast shutdown: connections are cut) and starts it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL server of its own (initdb in a temp directory, a free port),
 * for a test that restarts the database under load without touching the
 * machine's shared cluster. The server runs as the postgres OS user.
 */
export async function startPostgresServer(): Promise<PostgresServer> {
  const { execFile, execFileSync } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const { chownSync, mkdtempSync, readdirSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { freePort, waitFor } = await import("./net.js");
  const version = readdirSync("/usr/lib/postgresql").sort().at(-1)!;
  const bin = (name: string) => `/usr/lib/postgresql/${version}/bin/${name}`;
  const dir = mkdtempSync(join(tmpdir(), "cfs-pg-"));
  const info = execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim();
  chownSync(dir, Number(info), Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim()));
  // Asynchronous: the test's own servers (the dev issuer, the edge) keep running meanwhile.
  const asPostgres = (command: string, args: string[]) => promisify(execFile)("runuser", ["-u", "postgres", "--", bin(command), ...args]);
  const data = join(dir, "data");
  await asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "cfs", "--no-sync"]);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const start = async () => {
    await asPostgres("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "start"]);
    await waitFor(
      async () => {
        const c = new pg.Client({ connectionString: `postgres://cfs@127.0.0.1:${port}/postgres` });
        try {
          await c.connect();
          return true;
        } catch {
          return false;
        } finally {
          await c.end().catch(() => undefined);
        }
      },
      30_000,
      "PostgreSQL accepting connections",
    );
  };
  await start();
  return {
    url: `postgres://cfs@127.0.0.1:${port}/postgres`,
    restart: async () => {
      await asPostgres("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
      await start();
    },
    stop: async () => {
      try {
        await asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
