import pg from "pg";
import { parseStat, processTreeCpuSeconds, procfs, type CpuReader, type ProcReader } from "./process-stats.js";

/**
 * The PostgreSQL server that serves make bench's database, metered as one
 * process tree: the postmaster and everything it forks (a backend per
 * connection, the checkpointer, the WAL writer, the background writer,
 * autovacuum), backends that exited during a run included
 * (`processTreeCpuSeconds`).
 *
 * The postmaster is found from the server itself, so it works whichever
 * server bench uses (the machine's cluster that scripts/ensure-postgres.sh
 * starts, or CFS_TEST_DATABASE_URL's): `pg_backend_pid()` names the backend
 * of bench's own connection, and its parent is the postmaster. A server on
 * another machine or in another PID namespace has no such process here, or a
 * stranger under that pid, so the backend must also carry bench's database in
 * its process title before it is believed; otherwise the server is not
 * metered and `unmetered` says why.
 *
 * The whole server is metered, and it may serve other databases too (the
 * machine's cluster serves every test suite on the machine), so
 * `useElsewhere` gives a reading that moves when another database gets a
 * session or runs statements: bench compares it around each run.
 */
export interface PostgresMeter {
  postmasterPid: number;
  cpuSeconds: CpuReader;
  /**
   * Sessions and statement time of the server's other databases, as one
   * comparable reading (from pg_stat_database, which backends update at
   * most once a second); undefined when the server cannot tell.
   */
  useElsewhere(): Promise<string | undefined>;
  close(): Promise<void>;
}

export async function meterPostgres(databaseUrl: string): Promise<PostgresMeter | { unmetered: string }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  // Held for the whole bench: a connection the server drops meanwhile only makes `useElsewhere` unable to tell.
  client.on("error", () => undefined);
  await client.connect();
  let found: Awaited<ReturnType<typeof postmasterOf>>;
  try {
    const { rows } = await client.query<{ pid: number; database: string }>("SELECT pg_backend_pid() AS pid, current_database() AS database");
    found = await postmasterOf(rows[0]!.pid, rows[0]!.database);
  } catch (err) {
    await client.end();
    throw err;
  }
  if ("unmetered" in found) {
    await client.end();
    return found;
  }
  const postmasterPid = found.pid;
  return {
    postmasterPid,
    cpuSeconds: () => processTreeCpuSeconds(postmasterPid),
    useElsewhere: async () => {
      // sessions and active_time are PostgreSQL 14's: an older server cannot tell.
      const use = await client
        .query<{ use: string }>(
          "SELECT coalesce(sum(sessions), 0) || '/' || coalesce(sum(active_time), 0) AS use FROM pg_stat_database WHERE datname IS DISTINCT FROM current_database()",
        )
        .catch(() => undefined);
      return use?.rows[0]!.use;
    },
    close: () => client.end(),
  };
}

/**
 * The postmaster of backend `backendPid` (which serves `database`), as this
 * machine's /proc shows it, or why it cannot be told. The backend must be
 * alive, its title must name the database (PostgreSQL titles a backend
 * "postgres: [cluster: ]user database host(port) state" while
 * update_process_title is on, as it is by default), and its parent must run
 * the same executable (a backend is forked, never exec'd).
 */
export async function postmasterOf(backendPid: number, database: string, proc: ProcReader = procfs): Promise<{ pid: number } | { unmetered: string }> {
  const elsewhere = "the server runs on another machine or in another PID namespace";
  const stat = await proc.stat(backendPid);
  if (stat === undefined) return { unmetered: `its backend for bench's connection is pid ${backendPid}, which is no process here: ${elsewhere}` };
  const backend = parseStat(stat);
  const title = (await proc.cmdline(backendPid)) ?? "";
  if (!title.split(" ").includes(database)) {
    return {
      unmetered: `its backend for bench's connection is pid ${backendPid}, and that process here (${backend.comm}: "${title}") is not titled with bench's database ${database}: ${elsewhere}, or update_process_title is off`,
    };
  }
  const parentStat = await proc.stat(backend.ppid);
  const parent = parentStat === undefined ? undefined : parseStat(parentStat);
  if (parent?.comm !== backend.comm) {
    return { unmetered: `the parent of backend ${backendPid} (pid ${backend.ppid}, ${parent?.comm ?? "gone"}) does not run the server's executable (${backend.comm}): not a postmaster` };
  }
  return { pid: backend.ppid };
}
