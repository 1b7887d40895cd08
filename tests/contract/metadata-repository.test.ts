import { createPool, PostgresMetadataRepository } from "../../services/metadata/src/adapters/postgres-metadata-repository.js";
import { createLogger } from "#lib/logger.js";
import { startPglite } from "../support/pglite.js";
import { createTestDatabase } from "../support/postgres.js";
import { describeMetadataRepositoryContract } from "./metadata-repository.contract.js";

const log = createLogger("metadata-contract", "silent");

describeMetadataRepositoryContract("PostgreSQL", async () => {
  const db = await createTestDatabase();
  const pool = createPool({ url: db.url, max: 4 }, log);
  return {
    repo: new PostgresMetadataRepository(pool, log),
    cleanup: async () => {
      await pool.end();
      await db.drop();
    },
  };
});

describeMetadataRepositoryContract("PGlite", async () => {
  const pglite = await startPglite();
  // PGlite runs one query at a time on one session: a single connection keeps transactions whole.
  const pool = createPool({ url: pglite.url, max: 1 }, log);
  return {
    repo: new PostgresMetadataRepository(pool, log),
    cleanup: async () => {
      await pool.end();
      await pglite.stop();
    },
  };
});
