import { randomBytes } from "node:crypto";
import { createServer, connect, type Server, type Socket } from "node:net";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createLogger } from "#lib/logger.js";
import { PostgresPackIndex } from "../../services/block-storage/src/adapters/postgres-pack-index.js";
import type { PackEntry } from "../../services/block-storage/src/ports/pack-index.js";
import { freePort, waitFor } from "../support/net.js";
import { startPglite } from "../support/pglite.js";
import { createTestDatabase } from "../support/postgres.js";

const log = createLogger("pack-index-contract", "silent");
const key = () => randomBytes(32).toString("hex");
const entry = (ownerKey: string, hash: string, offset: number, size: number): PackEntry => ({ ownerKey, hash, offset, size });
/** A writtenBefore that every pack recorded by the test is older than. */
const later = () => new Date(Date.now() + 3_600_000);

interface Database {
  url: string;
  /** 1 on PGlite, which serves one session. */
  poolMax: number;
  /** Off on PGlite, whose connections share its one session. */
  preparedStatements: boolean;
  drop(): Promise<void>;
}

/**
 * What the index must do on either server. Each case gets a database of
 * its own (claimSparsePacks and list see every pack and chunk in it).
 */
function describePackIndexContract(name: string, createDatabase: () => Promise<Database>): void {
  describe(`PostgresPackIndex on ${name}`, () => {
    let database: Database | undefined;
    const opened: PostgresPackIndex[] = [];
    const cleanups: (() => Promise<void>)[] = [];

    async function open(url?: string): Promise<PostgresPackIndex> {
      database ??= await createDatabase();
      const index = await PostgresPackIndex.open({ url: url ?? database.url, poolMax: database.poolMax, preparedStatements: database.preparedStatements }, log);
      opened.push(index);
      return index;
    }

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((index) => index.close()));
      for (const cleanup of cleanups.splice(0)) await cleanup();
      await database?.drop();
      database = undefined;
    });

    it("locates many chunks at once: those of the owner only, in any pack, absent ones left out", async () => {
      const index = await open();
      const [owner, other] = [key(), key()];
      const [a, b, c, x] = [key(), key(), key(), key()];
      const [first, second] = [key(), key()];
      await index.addPack(first, 300, [entry(owner, a, 0, 100), entry(other, x, 100, 100), entry(owner, b, 200, 100)]);
      await index.addPack(second, 50, [entry(owner, c, 0, 50)]);
      const located = await index.locateMany(owner, [c, x, a, b, key(), a]);
      expect(Object.fromEntries(located)).toEqual({
        [a]: { pack: first, offset: 0, size: 100, inline: false },
        [b]: { pack: first, offset: 200, size: 100, inline: false },
        [c]: { pack: second, offset: 0, size: 50, inline: false },
      });
      expect([...(await index.locateMany(other, [a, x])).keys()]).toEqual([x]);
      expect((await index.locateMany(owner, [])).size).toBe(0);
    });

    it("records a pack and answers sizes and locate for its entries only, under their owner only", async () => {
      const index = await open();
      const [owner, other, a, b] = [key(), key(), key(), key()];
      const pack = key();
      expect(await index.addPack(pack, 300, [entry(owner, a, 0, 100), entry(owner, b, 100, 200)])).toEqual([true, true]);
      expect(await index.sizes(owner, [a, key(), b, a])).toEqual(new Map([[a, 100], [b, 200]]));
      expect(await index.sizes(other, [a, b])).toEqual(new Map());
      expect(await index.locate(owner, b)).toEqual({ pack, offset: 100, size: 200, inline: false });
      expect(await index.locate(owner, key())).toBeUndefined();
      expect(await index.locate(other, a)).toBeUndefined();
    });

    it("records a key given twice, in one call or two, once (the first) and counts only what it recorded", async () => {
      const index = await open();
      const [owner, a, b, c] = [key(), key(), key(), key()];
      const [first, second] = [key(), key()];
      expect(await index.addPack(first, 300, [entry(owner, a, 0, 100), entry(owner, a, 100, 100), entry(owner, b, 200, 50)])).toEqual([
        true,
        false,
        true,
      ]);
      expect(await index.addPack(second, 130, [entry(owner, a, 0, 100), entry(owner, c, 100, 30)])).toEqual([false, true]);
      expect(await index.locate(owner, a)).toEqual({ pack: first, offset: 0, size: 100, inline: false });
      expect(await index.claimSparsePacks(1, later(), 0, 10)).toEqual([
        { pack: second, bytes: 130, liveBytes: 30, inline: false },
        { pack: first, bytes: 300, liveBytes: 150, inline: false },
      ]);
    });

    it("records a pack with no entries", async () => {
      const index = await open();
      const pack = key();
      expect(await index.addPack(pack, 0, [])).toEqual([]);
      expect(await index.knownPacks([pack])).toEqual(new Set([pack]));
    });

    it("removes only indexed hashes of the owner asked, and takes them off their packs' live counts", async () => {
      const index = await open();
      const [alice, bob, h1, h2] = [key(), key(), key(), key()];
      const [alicePack, bobPack] = [key(), key()];
      await index.addPack(alicePack, 100, [entry(alice, h1, 0, 60), entry(alice, h2, 60, 40)]);
      await index.addPack(bobPack, 100, [entry(bob, h1, 0, 60)]);
      expect(await index.remove(bob, [h2, key()])).toEqual([]);
      expect(await index.remove(alice, [h1, key(), h1])).toEqual([h1]);
      expect(await index.remove(alice, [h1])).toEqual([]);
      expect(await index.sizes(alice, [h1, h2])).toEqual(new Map([[h2, 40]]));
      expect(await index.sizes(bob, [h1])).toEqual(new Map([[h1, 60]]));
      expect(await index.claimSparsePacks(1, later(), 0, 10)).toEqual([
        { pack: alicePack, bytes: 100, liveBytes: 40, inline: false },
        { pack: bobPack, bytes: 100, liveBytes: 60, inline: false },
      ]);
    });

    it("lists chunks in (ownerKey, hash) order, paging from just after a position", async () => {
      const index = await open();
      const owners = [key(), key()];
      const chunks = owners.flatMap((ownerKey) => [key(), key(), key()].map((hash) => ({ ownerKey, hash })));
      // Recorded out of order, in two packs.
      const shuffled = [...chunks].sort((x, y) => (x.hash < y.hash ? -1 : 1));
      await index.addPack(key(), 300, shuffled.slice(0, 3).map((c, i) => entry(c.ownerKey, c.hash, i * 100, 100 + i)));
      await index.addPack(key(), 300, shuffled.slice(3).map((c, i) => entry(c.ownerKey, c.hash, i * 100, 200 + i)));
      const expected = [...chunks].sort((x, y) => (x.ownerKey === y.ownerKey ? (x.hash < y.hash ? -1 : 1) : x.ownerKey < y.ownerKey ? -1 : 1));

      const page1 = await index.list(undefined, 4);
      const page2 = await index.list(page1.at(-1), 4);
      expect([...page1, ...page2].map(({ ownerKey, hash }) => ({ ownerKey, hash }))).toEqual(expected);
      expect(page1).toHaveLength(4);
      expect(await index.list(page2.at(-1), 4)).toEqual([]);
      const sizes = new Map(shuffled.map((c, i) => [c.hash, i < 3 ? 100 + i : 200 + i - 3]));
      for (const listed of [...page1, ...page2]) {
        expect(listed.size).toBe(sizes.get(listed.hash));
        expect(listed.storedAt).toBeInstanceOf(Date);
        expect(Math.abs(listed.storedAt.getTime() - Date.now())).toBeLessThan(60_000);
      }
      // From a position that is not a chunk: the rest of the first owner's, none of them skipped.
      const [firstOwner] = [...owners].sort();
      const rest = await index.list({ ownerKey: firstOwner!, hash: "f".repeat(64) }, 10);
      expect(rest.map((c) => c.hash)).toEqual(expected.slice(3).map((c) => c.hash));
    });

    it("claims packs no fuller than the ratio, emptiest first, recorded before writtenBefore, and not again within claimMs", async () => {
      const index = await open();
      const owner = key();
      const [full, half, empty] = [key(), key(), key()];
      const gone = key();
      await index.addPack(full, 100, [entry(owner, key(), 0, 100)]);
      await index.addPack(half, 100, [entry(owner, key(), 0, 50), entry(owner, gone, 50, 50)]);
      const last = key();
      await index.addPack(empty, 100, [entry(owner, last, 0, 100)]);
      await index.remove(owner, [gone, last]);

      expect(await index.claimSparsePacks(1, new Date(Date.now() - 60_000), 0, 10)).toEqual([]);
      expect(await index.claimSparsePacks(0.5, later(), 60_000, 1)).toEqual([{ pack: empty, bytes: 100, liveBytes: 0, inline: false }]);
      expect(await index.claimSparsePacks(0.5, later(), 60_000, 10)).toEqual([{ pack: half, bytes: 100, liveBytes: 50, inline: false }]);
      // All claimed within the last minute.
      expect(await index.claimSparsePacks(0.5, later(), 60_000, 10)).toEqual([]);
      // Claims older than claimMs (0) have expired.
      expect(await index.claimSparsePacks(0.5, later(), 0, 10)).toEqual([
        { pack: empty, bytes: 100, liveBytes: 0, inline: false },
        { pack: half, bytes: 100, liveBytes: 50, inline: false },
      ]);
      expect((await index.claimSparsePacks(0.99, later(), 0, 10)).map((p) => p.pack)).toEqual([empty, half]);
      // The full pack was never claimed, so a long claimMs does not hide it.
      expect(await index.claimSparsePacks(1, later(), 60_000, 10)).toEqual([{ pack: full, bytes: 100, liveBytes: 100, inline: false }]);
    });

    it("keeps an inline pack's bytes: read back by range, claimed only once empty, gone with its row", async () => {
      const index = await open();
      const [owner, a, b, c] = [key(), key(), key(), key()];
      const [inline, object] = [key(), key()];
      const data = randomBytes(300);
      expect(await index.addPack(inline, 300, [entry(owner, a, 0, 100), entry(owner, b, 100, 150), entry(owner, c, 250, 50)], data)).toEqual([true, true, true]);
      await index.addPack(object, 100, [entry(owner, key(), 0, 100)]);
      expect(await index.locate(owner, b)).toEqual({ pack: inline, offset: 100, size: 150, inline: true });
      expect((await index.locateMany(owner, [a, c])).get(c)).toEqual({ pack: inline, offset: 250, size: 50, inline: true });
      expect(await index.readInline(inline, 100, [150, 50])).toEqual([data.subarray(100, 250), data.subarray(250)]);
      expect(await index.readInline(inline, 0, [100])).toEqual([data.subarray(0, 100)]);
      // Past its end: the chunks it holds whole; an object's pack or an unknown one: not kept here.
      expect(await index.readInline(inline, 250, [50, 10])).toEqual([data.subarray(250)]);
      expect(await index.readInline(object, 0, [100])).toBeUndefined();
      expect(await index.readInline(key(), 0, [100])).toBeUndefined();
      await expect(index.addPack(key(), 10, [entry(owner, key(), 0, 10)], randomBytes(9))).rejects.toThrow(RangeError);

      // Two of three chunks gone: sparse, but an inline pack is not rewritten.
      await index.remove(owner, [a, b]);
      expect((await index.claimSparsePacks(0.5, later(), 0, 10)).map((p) => p.pack)).toEqual([]);
      await index.remove(owner, [c]);
      expect(await index.claimSparsePacks(0.5, later(), 0, 10)).toEqual([{ pack: inline, bytes: 300, liveBytes: 0, inline: true }]);
      expect(await index.dropEmptyPack(inline)).toBe(true);
      expect(await index.readInline(inline, 0, [100])).toBeUndefined();
      expect(await index.knownPacks([inline, object])).toEqual(new Set([object]));
    });

    it("lists a pack's live entries in offset order", async () => {
      const index = await open();
      const [owner, a, b, c] = [key(), key(), key(), key()];
      const pack = key();
      await index.addPack(pack, 300, [entry(owner, a, 200, 100), entry(owner, b, 0, 100), entry(owner, c, 100, 100)]);
      await index.remove(owner, [c]);
      expect(await index.liveEntries(pack)).toEqual([entry(owner, b, 0, 100), entry(owner, a, 200, 100)]);
      expect(await index.liveEntries(key())).toEqual([]);
    });

    it("moves the entries still in a pack, records the new pack with them, and drops the old one only when empty", async () => {
      const index = await open();
      const [owner, a, b, c] = [key(), key(), key(), key()];
      const [from, to1, to2] = [key(), key(), key()];
      await index.addPack(from, 600, [entry(owner, a, 0, 100), entry(owner, b, 100, 200), entry(owner, c, 300, 300)]);
      // Removed after the repacker read the live entries, before it moved them.
      await index.remove(owner, [b]);

      expect(await index.movePack(from, { pack: to1, bytes: 300, entries: [entry(owner, a, 0, 100), entry(owner, b, 100, 200)] })).toEqual({
        moved: 1,
        dropped: false,
      });
      expect(await index.locate(owner, a)).toEqual({ pack: to1, offset: 0, size: 100, inline: false });
      expect(await index.locate(owner, b)).toBeUndefined();
      expect(await index.locate(owner, c)).toEqual({ pack: from, offset: 300, size: 300, inline: false });
      expect(await index.claimSparsePacks(1, later(), 0, 10)).toEqual([
        { pack: to1, bytes: 300, liveBytes: 100, inline: false },
        { pack: from, bytes: 600, liveBytes: 300, inline: false },
      ]);

      expect(await index.movePack(from, { pack: to2, bytes: 300, entries: [entry(owner, c, 0, 300)] })).toEqual({ moved: 1, dropped: true });
      expect(await index.locate(owner, c)).toEqual({ pack: to2, offset: 0, size: 300, inline: false });
      expect(await index.knownPacks([from, to1, to2])).toEqual(new Set([to1, to2]));
      expect(await index.liveEntries(to2)).toEqual([entry(owner, c, 0, 300)]);
      expect(await index.claimSparsePacks(1, later(), 0, 10)).toEqual([
        { pack: to1, bytes: 300, liveBytes: 100, inline: false },
        { pack: to2, bytes: 300, liveBytes: 300, inline: false },
      ]);
    });

    it("drops a pack only when nothing is indexed in it", async () => {
      const index = await open();
      const [owner, a] = [key(), key()];
      const [pack, nothing] = [key(), key()];
      await index.addPack(pack, 100, [entry(owner, a, 0, 100)]);
      await index.addPack(nothing, 0, []);
      expect(await index.dropEmptyPack(pack)).toBe(false);
      expect(await index.knownPacks([pack])).toEqual(new Set([pack]));
      await index.remove(owner, [a]);
      expect(await index.dropEmptyPack(pack)).toBe(true);
      expect(await index.dropEmptyPack(pack)).toBe(false);
      expect(await index.dropEmptyPack(nothing)).toBe(true);
      expect(await index.knownPacks([pack, nothing])).toEqual(new Set());
    });

    it("knows the packs it recorded", async () => {
      const index = await open();
      const [p1, p2] = [key(), key()];
      await index.addPack(p1, 10, [entry(key(), key(), 0, 10)]);
      await index.addPack(p2, 10, []);
      expect(await index.knownPacks([p1, key(), p2, p1])).toEqual(new Set([p1, p2]));
      expect(await index.knownPacks([])).toEqual(new Set());
    });

    it("opens again on a database it already migrated, and sees what the first one recorded", async () => {
      const first = await open();
      const [owner, a] = [key(), key()];
      await first.addPack(key(), 10, [entry(owner, a, 0, 10)]);
      const second = await open();
      await second.check();
      expect(await second.sizes(owner, [a])).toEqual(new Map([[a, 10]]));
    });

    it("fails its health check as UNAVAILABLE once the server is out of reach, and logs the idle connection it lost", async () => {
      database = await createDatabase();
      const proxy = await startProxy(new URL(database.url));
      cleanups.push(() => proxy.stop());
      const warnings: string[] = [];
      const index = await PostgresPackIndex.open(
        { url: proxy.url, poolMax: database.poolMax, preparedStatements: database.preparedStatements },
        createLogger("pack-index-contract", "warn", { write: (line: string) => void warnings.push(line) }),
      );
      opened.push(index);
      await index.check();
      await proxy.stop();
      await waitFor(async () => warnings.some((line) => line.includes("idle block index connection failed")), 10_000, "the lost connection logged");
      await expect(index.check()).rejects.toMatchObject({ kind: "unavailable", message: "block index unavailable (ECONNREFUSED)" });
    });
  });
}

describePackIndexContract("PostgreSQL", async () => {
  const db = await createTestDatabase();
  return { url: db.url, poolMax: 4, preparedStatements: true, drop: db.drop };
});

/** One PGlite for the file (it takes seconds to start); each case gets an empty schema in it instead. */
let pglite: ReturnType<typeof startPglite> | undefined;

afterAll(async () => {
  await (await pglite)?.stop();
});

describePackIndexContract("PGlite", async () => {
  pglite ??= startPglite();
  const { url } = await pglite;
  return {
    url,
    poolMax: 1,
    preparedStatements: false,
    drop: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
      } finally {
        await client.end();
      }
    },
  };
});

describe("PostgresPackIndex", () => {
  it("does not open on a server nothing listens at, as UNAVAILABLE", async () => {
    const url = `postgres://cfs_test:cfs_test@127.0.0.1:${await freePort()}/postgres`;
    await expect(PostgresPackIndex.open({ url, poolMax: 1, preparedStatements: true }, log)).rejects.toMatchObject({
      kind: "unavailable",
      message: "block index unavailable (ECONNREFUSED)",
    });
  });

  it("opens from several replicas at once on a fresh database (the migrations wait for each other)", async () => {
    const db = await createTestDatabase();
    const indexes = await Promise.all([1, 2, 3].map(() => PostgresPackIndex.open({ url: db.url, poolMax: 2, preparedStatements: true }, log)));
    try {
      await Promise.all(indexes.map((index) => index.check()));
    } finally {
      await Promise.all(indexes.map((index) => index.close()));
      await db.drop();
    }
  });

  /**
   * A chunk removed while a repacker moves it: the remove waits for the
   * move, then deletes the entry at its new place, in a pack recorded after
   * the remove began. That pack's counters must lose it too, or the pack
   * would count a chunk it no longer holds and never be dropped.
   * PostgreSQL only: it takes two sessions at once.
   */
  it("takes a chunk removed during its move off the pack it was moved into", async () => {
    const db = await createTestDatabase();
    const index = await PostgresPackIndex.open({ url: db.url, poolMax: 4, preparedStatements: true }, log);
    // One session holds a lock, the other watches (outside any transaction,
    // where pg_stat_activity would stay as it was when first read).
    const [blocker, watcher] = [new pg.Client({ connectionString: db.url }), new pg.Client({ connectionString: db.url })];
    await Promise.all([blocker.connect(), watcher.connect()]);
    try {
      const [owner, a] = [key(), key()];
      const [from, to] = [key(), key()];
      await index.addPack(from, 100, [entry(owner, a, 0, 100)]);
      const lockWaits = async () => {
        const { rows } = await watcher.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        return Number(rows[0]!.n);
      };
      // Holds the move once it re-pointed the entry (its statement takes
      // `from`'s row after that), before it records `to` and commits. Were it
      // held before, the remove would not wait for it and the test would say so.
      await blocker.query("BEGIN");
      await blocker.query("SELECT 1 FROM block_packs WHERE pack = $1 FOR UPDATE", [from]);
      const moving = index.movePack(from, { pack: to, bytes: 100, entries: [entry(owner, a, 0, 100)] });
      await waitFor(async () => (await lockWaits()) === 1, 10_000, "the move waiting");
      const removing = index.remove(owner, [a]);
      await waitFor(async () => (await lockWaits()) === 2, 10_000, "the remove waiting for the move");
      await blocker.query("COMMIT");
      expect(await moving).toEqual({ moved: 1, dropped: true });
      expect(await removing).toEqual([a]);
      expect(await index.claimSparsePacks(1, later(), 0, 10)).toEqual([{ pack: to, bytes: 100, liveBytes: 0, inline: false }]);
      expect(await index.dropEmptyPack(to)).toBe(true);
    } finally {
      await Promise.all([blocker.end(), watcher.end()]);
      await index.close();
      await db.drop();
    }
  });
});

/**
 * A TCP relay to the database, so that a test can take the server out of
 * reach (stop listening, cut every connection) without stopping it.
 */
async function startProxy(target: URL): Promise<{ url: string; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(target);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  let stopped: Promise<void> | undefined;
  return {
    url: url.toString(),
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      })),
  };
}
