import { ConfigError } from "#lib/config.js";
import { createLogger } from "#lib/logger.js";
import { createPool, PostgresDatabase } from "./adapters/postgres/database.js";
import { PostgresOutboxStore } from "./adapters/postgres/outbox-store.js";
import { parseMigrationConfig } from "./config.js";
import type { DeadLetters } from "./ports/dead-letters.js";

/**
 * The operator's command for the outbox's dead letters (events the sync
 * service refused, set aside so the others flow), against CFS_DATABASE_URL:
 *
 *   dead-letters list [limit]        the oldest first (default 100)
 *   dead-letters retry <seq>...      back to the end of the outbox
 *   dead-letters retry --all
 *
 * (`npx tsx services/metadata/src/dead-letters.ts …`, or in the image
 * `node dist/services/metadata/src/dead-letters.js …`.)
 */
const USAGE = "usage: dead-letters list [limit] | retry <seq>... | retry --all\n";

async function runCommand(args: readonly string[], store: DeadLetters, out: (line: string) => void): Promise<number> {
  const [command, ...rest] = args;
  if (command === "list") {
    const limit = rest[0] === undefined ? 100 : Number(rest[0]);
    if (!Number.isSafeInteger(limit) || limit < 1) return usage(out);
    const letters = await store.listDeadLetters(limit);
    for (const l of letters) {
      out(`${l.seq}\t${l.setAsideAt.toISOString()}\t${l.eventType}\t${l.owner}\t${l.fileId}\t${JSON.stringify(l.name)}\t${l.reason}\n`);
    }
    out(`${letters.length} dead letter(s)\n`);
    return 0;
  }
  if (command === "retry") {
    const all = rest.length === 1 && rest[0] === "--all";
    if (!all && (rest.length === 0 || rest.some((s) => !/^\d{1,19}$/.test(s)))) return usage(out);
    out(`${await store.retryDeadLetters(all ? "all" : rest)} event(s) back in the outbox\n`);
    return 0;
  }
  return usage(out);
}

function usage(out: (line: string) => void): number {
  out(USAGE);
  return 2;
}

async function main(): Promise<number> {
  const config = parseMigrationConfig(process.env);
  const log = createLogger("dead-letters", "warn");
  const pool = createPool({ url: config.database.url, max: 1 }, log);
  try {
    return await runCommand(process.argv.slice(2), new PostgresOutboxStore(new PostgresDatabase(pool, log)), (line) => process.stdout.write(line));
  } finally {
    await pool.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`dead-letters: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
