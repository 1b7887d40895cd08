import { PostgresCatalogueRetention } from "../../services/metadata/src/adapters/postgres/catalogue-retention.js";
import { PostgresCatalogueStore } from "../../services/metadata/src/adapters/postgres/catalogue-store.js";
import { PostgresCollectionQueue } from "../../services/metadata/src/adapters/postgres/collection-queue.js";
import { createPool, PostgresDatabase } from "../../services/metadata/src/adapters/postgres/database.js";
import { PostgresOutboxStore } from "../../services/metadata/src/adapters/postgres/outbox-store.js";
import { PostgresSweepReferences } from "../../services/metadata/src/adapters/postgres/sweep-references.js";
import { PostgresDamageLedger } from "../../services/metadata/src/adapters/postgres/damage-ledger.js";
import { PostgresUploadSessionStore } from "../../services/metadata/src/adapters/postgres/upload-session-store.js";
import { PostgresVerificationReads } from "../../services/metadata/src/adapters/postgres/verification-reads.js";
import { createLogger } from "#lib/logger.js";
import { StatementNames } from "#lib/pg-statements.js";
import { startPglite } from "../support/pglite.js";
import { createTestDatabase } from "../support/postgres.js";
import type { StoresUnderTest } from "./metadata-store-fixtures.js";
import { describeMetadataStoreContracts } from "./metadata-stores.contract.js";

const log = createLogger("metadata-contract", "silent");

/** The adapter set main.ts wires, over one pool of `max` connections to `url`; `drop` removes the database after the pool. */
function postgresStores(url: string, max: number, drop: () => Promise<void>, names?: StatementNames): StoresUnderTest {
  const pool = createPool({ url, max }, log);
  const db = new PostgresDatabase(pool, log, names);
  return {
    stores: {
      database: db,
      catalogue: new PostgresCatalogueStore(db),
      retention: new PostgresCatalogueRetention(db),
      outbox: new PostgresOutboxStore(db),
      collection: new PostgresCollectionQueue(db),
      verification: new PostgresVerificationReads(db),
      uploads: new PostgresUploadSessionStore(db),
      sweep: new PostgresSweepReferences(db),
      damage: new PostgresDamageLedger(db),
    },
    cleanup: async () => {
      await pool.end();
      await drop();
    },
  };
}

describeMetadataStoreContracts("PostgreSQL", async () => {
  const db = await createTestDatabase();
  // Prepared statements, as main.ts sends them to PostgreSQL.
  return postgresStores(db.url, 4, () => db.drop(), new StatementNames());
});

describeMetadataStoreContracts("PGlite", async () => {
  const pglite = await startPglite();
  // PGlite runs one query at a time on one session: a single connection keeps transactions whole.
  return postgresStores(pglite.url, 1, () => pglite.stop());
});
