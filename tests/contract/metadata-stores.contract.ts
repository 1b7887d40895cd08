import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogueLifecycleContract } from "./catalogue-lifecycle.contract.js";
import { catalogueStoreContract } from "./catalogue-store.contract.js";
import { collectionQueueContract } from "./collection-queue.contract.js";
import { damageLedgerContract } from "./damage-ledger.contract.js";
import { outboxStoreContract } from "./outbox-store.contract.js";
import { commit, version, type ContractContext, type StoresUnderTest } from "./metadata-store-fixtures.js";
import { sweepReferencesContract } from "./sweep-references.contract.js";
import { uploadSessionStoreContract } from "./upload-session-store.contract.js";
import { verificationReadsContract } from "./verification-reads.contract.js";

/**
 * What every metadata store must do, run against each database the service
 * supports, one describe block per port. Each test works as its own random
 * owner, so tests share one database without seeing each other's files.
 */
export function describeMetadataStoreContracts(name: string, create: () => Promise<StoresUnderTest>): void {
  describe(`metadata stores contract: ${name}`, () => {
    let current: StoresUnderTest | undefined;
    const ctx: ContractContext = {
      get stores() {
        if (!current) throw new Error("the stores are not set up");
        return current.stores;
      },
      newOwner: () => `user-${randomUUID()}`,
      eventsOf: async (owner) => (await ctx.stores.outbox.pendingEvents(10_000)).filter((e) => e.owner === owner),
      candidatesOf: async (owner, graceSeconds = 0) =>
        (await ctx.stores.collection.dueGcCandidates(graceSeconds, 10_000)).filter((c) => c.owner === owner),
    };

    beforeAll(async () => {
      current = await create();
      // Two replicas starting at once on an empty database.
      await Promise.all([current.stores.database.migrate(), current.stores.database.migrate()]);
    });

    afterAll(async () => {
      await current?.cleanup();
    });

    describe("database", () => {

      it("migrates again without touching existing data", async () => {
        const { stores } = ctx;
        const owner = ctx.newOwner();
        const file = await commit(stores.catalogue, version(owner, "kept.txt", ["a"]));
        await stores.database.migrate();
        expect(await stores.catalogue.getFile(owner, file.fileId)).toEqual(file);
        await stores.database.ping();
      });
    });

    describe("CatalogueStore", () => catalogueStoreContract(ctx));
    describe("CatalogueStore: moves, versions, trash, quotas; CatalogueRetention", () => catalogueLifecycleContract(ctx));
    describe("OutboxStore", () => outboxStoreContract(ctx));
    describe("CollectionQueue and ReleaseQueue", () => collectionQueueContract(ctx));
    describe("VerificationReads", () => verificationReadsContract(ctx));
    describe("UploadSessionStore", () => uploadSessionStoreContract(ctx));
    describe("SweepReferences", () => sweepReferencesContract(ctx));
    describe("DamageLedger", () => damageLedgerContract(ctx));
  });
}
