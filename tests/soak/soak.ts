import { createHash, randomBytes, randomInt } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Client as MinioClient } from "minio";
import pg from "pg";
import { EventType, type WatchChangesResponse } from "#gen/cfs/sync/v1/sync.js";
import { createLogger } from "#lib/logger.js";
import { startStack, type RunningStack, type ServiceName } from "../../dev/stack.js";
import type { SupervisionEvent } from "../../dev/supervisor.js";
import { MinioChunkStore } from "../../services/block-storage/src/adapters/minio-chunk-store.js";
import { PostgresPackIndex } from "../../services/block-storage/src/adapters/postgres-pack-index.js";
import { ownerKeyOf } from "../../services/block-storage/src/domain/block-service.js";
import { PackedChunkStore } from "../../services/block-storage/src/domain/packed-chunk-store.js";
import type { ChunkStore } from "../../services/block-storage/src/ports/chunk-store.js";
import { createPool, PostgresDatabase } from "../../services/metadata/src/adapters/postgres/database.js";
import { PostgresSweepReferences } from "../../services/metadata/src/adapters/postgres/sweep-references.js";
import { chunksOf } from "../support/chunks.js";
import { auth, call, clientsFor, download, upload, type Clients } from "../support/clients.js";
import { startMinio, type MinioServer } from "../support/minio.js";
import { waitFor } from "../support/net.js";
import { startPostgresServer, type PostgresServer } from "../support/postgres.js";

/**
 * The crash soak of issue 12: the real stack (its own PostgreSQL and MinIO,
 * services supervised as make run does) under several users uploading,
 * re-uploading, downloading, moving and deleting at once, while a random
 * service is SIGKILLed every 20-40 s (scaled down for short runs),
 * PostgreSQL and MinIO are restarted once each and bytes are flipped in a
 * few stored chunks. Then it checks what must hold and says so, one line
 * per check.
 */
export interface SoakOptions {
  seconds: number;
  users?: number;
  log?: (line: string) => void;
}

export interface Check {
  name: string;
  passed: boolean;
  detail: string;
}

const KILLABLE: ServiceName[] = ["chunker", "metadata", "sync", "block-storage"];
const GRACE_SECONDS = 5;
const BUCKET = "cfs-soak";
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

interface Acked {
  user: string;
  fileId: string;
  name: string;
  data: Buffer;
  version: number;
}

interface Ledger {
  /** The newest acknowledged content of every file the test did not delete, by file id. */
  live: Map<string, Acked>;
  /** Files whose delete was acknowledged. */
  deleted: Map<string, string>;
  /** Every content hash ever sent under a name (acknowledged or not: a commit whose reply was lost is whole too). */
  sent: Map<string, Set<string>>;
  /** Changes the feed must show, as prefixes of `${fileId} ${type} ${version} ${name}`, for every acknowledged operation. */
  expectedChanges: Map<string, Set<string>>;
  uploads: number;
  failedOps: number;
  wrongBytes: string[];
  partialListed: string[];
}

export async function runSoak(options: SoakOptions): Promise<Check[]> {
  const say = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const seconds = options.seconds;
  const users = Array.from({ length: options.users ?? 3 }, (_, i) => `soak-user-${i}`);
  const dataDir = await mkdtemp(join(tmpdir(), "cfs-soak-"));
  let postgres: PostgresServer | undefined;
  let minio: MinioServer | undefined;
  let stack: RunningStack | undefined;
  const supervision: SupervisionEvent[] = [];
  try {
    postgres = await startPostgresServer();
    minio = await startMinio();
    stack = await startStack({
      dataDir,
      databaseUrl: postgres.url,
      s3: { endpoint: minio.endpoint, accessKey: minio.accessKey, secretKey: minio.secretKey, bucket: BUCKET },
      defaultPorts: false,
      logs: "files",
      supervise: { onEvent: (e) => supervision.push(e) },
      env: {
        CFS_GC_GRACE_SECONDS: String(GRACE_SECONDS),
        CFS_GC_INTERVAL_MS: "1000",
        CFS_GC_SWEEP_INTERVAL_SECONDS: "3",
        CFS_OUTBOX_INTERVAL_MS: "200",
        CFS_VERIFY_INTERVAL_MS: "500",
        CFS_SHUTDOWN_GRACE_MS: "3000",
      },
    });
    const running = stack;
    say(`soak: ${seconds} s, ${users.length} users, logs in ${dataDir}/logs`);
    const tokens = new Map(await Promise.all(users.map(async (u) => [u, await running.issuer!.userToken(u, 6 * 3600)] as const)));
    const ledger: Ledger = {
      live: new Map(),
      deleted: new Map(),
      sent: new Map(),
      expectedChanges: new Map(users.map((u) => [u, new Set<string>()])),
      uploads: 0,
      failedOps: 0,
      wrongBytes: [],
      partialListed: [],
    };
    const feeds = new Map(users.map((u) => [u, new FeedFollower(running, tokens.get(u)!)]));
    for (const feed of feeds.values()) feed.start();

    const deadline = Date.now() + seconds * 1000;
    const stopAt = () => Date.now() >= deadline;
    const chaos = runChaos(running, postgres, minio, seconds, stopAt, say);
    await Promise.all([...users.map((u) => userLoad(running, u, tokens.get(u)!, ledger, stopAt)), lister(running, users, tokens, ledger, stopAt), chaos.done]);
    say(`soak: load over (${ledger.uploads} uploads acknowledged, ${ledger.failedOps} operations failed and were not acknowledged); checking`);

    // Everything serving again before the checks.
    await waitFor(async () => (await running.notServing()).length === 0, 120_000, "every service serving after the chaos");
    const c = clientsFor(running.addresses);
    try {
      // Corruption: every flipped chunk is found by the scrubber (a pass at start) unless a download found it first.
      await running.kill("block-storage", "SIGKILL");
      await running.start("block-storage");
      const { store, close: closeStore } = await openStore(minio, postgres.url);
      const quarantinedAll = async () => {
        for (const f of chaos.flipped) if ((await store.has(f.ownerKey, [f.hash])).size > 0) return false;
        return true;
      };
      const foundAll = await waitFor(quarantinedAll, 120_000, "the flipped chunks quarantined").then(() => true, () => false);
      // Heal: the owners upload the damaged files' content again, as the report tells them to.
      for (const f of chaos.flipped) {
        for (const acked of ledger.live.values()) {
          if (acked.user !== f.user || !chunksOf(acked.data).some((k) => k.sha256 === f.hash)) continue;
          const healed = await retry(() => upload(c, tokens.get(acked.user)!, acked.data, { name: acked.name }));
          acked.version = healed.version;
        }
      }

      // Lost: every acknowledged file not deleted downloads byte-identical.
      const lost: string[] = [];
      for (const acked of ledger.live.values()) {
        // The acknowledged version: a later upload whose reply was lost may have added a newer one.
        const got = await retry(() => download(c, tokens.get(acked.user)!, acked.fileId, { version: acked.version })).catch((err: grpc.ServiceError) => err);
        if (got instanceof Error) lost.push(`${acked.name}: ${got.message}`);
        else if (!got.data.equals(acked.data)) lost.push(`${acked.name}: different bytes`);
      }
      // Deletes that came back.
      const back: string[] = [];
      for (const [fileId, user] of ledger.deleted) {
        const got = await retry(() => call(c.metadata.getFile, c.metadata, { fileId }, tokens.get(user)!)).catch((err: grpc.ServiceError) => err);
        if (!(got instanceof Error && (got as grpc.ServiceError).code === grpc.status.NOT_FOUND)) back.push(fileId);
      }
      // Orphans after a sweep: every chunk in MinIO is referenced (or queued for the collector).
      const settledAt = Date.now() / 1000 + GRACE_SECONDS;
      await waitFor(async () => (await metric(running, "metadata", "cfs_gc_sweep_last_completed_timestamp_seconds")) > settledAt + 1, 120_000, "a sweep after the grace period");
      const orphans = await countOrphans(store, postgres.url);
      await closeStore();
      // The feeds: every acknowledged operation once, nothing twice.
      await waitFor(async () => [...feeds].every(([u, f]) => missingChanges(ledger, u, f).length === 0), 60_000, "the feeds to show every operation").catch(() => undefined);
      const missing = [...feeds].flatMap(([u, f]) => missingChanges(ledger, u, f).map((m) => `${u}: ${m}`));
      const duplicated = [...feeds.values()].flatMap((f) => f.duplicates);
      for (const feed of feeds.values()) feed.stop();

      const kills = supervision.filter((e) => e.kind === "exited" && e.signal === "SIGKILL").length;
      const crashes = supervision.filter((e) => e.kind === "exited" && e.signal !== "SIGKILL").length;
      // A restart may fail (the service exits while starting, e.g. during the database's restart) and be tried again: what counts is that each came back.
      const lastEvent = new Map(supervision.map((e) => [e.service, e.kind]));
      const notBack = [...lastEvent].filter(([, kind]) => kind !== "restarted").map(([service]) => service);
      return [
        check("acknowledged uploads", ledger.uploads > 0, `${ledger.uploads}`),
        check(
          "services SIGKILLed and restarted by supervision",
          kills > 0 && notBack.length === 0,
          `${kills} killed, ${crashes} other exits, ${notBack.length === 0 ? "all back" : `not back: ${notBack.join(", ")}`}; PostgreSQL and MinIO restarted once each`,
        ),
        check("lost (acknowledged files not downloading byte-identical)", lost.length === 0, summary(lost)),
        check("wrong bytes ever served", ledger.wrongBytes.length === 0, summary(ledger.wrongBytes)),
        check("partial files ever listed", ledger.partialListed.length === 0, summary(ledger.partialListed)),
        check("acknowledged deletes that came back", back.length === 0, summary(back)),
        check("orphan chunks after a sweep", orphans.length === 0, summary(orphans)),
        check("corrupt chunks quarantined (scrub or read) of those flipped", foundAll && chaos.flipped.length > 0, `${chaos.flipped.length} flipped, ${foundAll ? "all" : "not all"} quarantined`),
        check("sync events for every acknowledged operation", missing.length === 0, summary(missing)),
        check("sync events duplicated after a client's cursor", duplicated.length === 0, summary(duplicated)),
      ];
    } finally {
      c.close();
    }
  } finally {
    await stack?.stop().catch(() => undefined);
    await minio?.stop().catch(() => undefined);
    await postgres?.stop().catch(() => undefined);
    if (!process.env.CFS_SOAK_KEEP) await rm(dataDir, { recursive: true, force: true });
  }
}

const check = (name: string, passed: boolean, detail: string): Check => ({ name, passed, detail });
const summary = (items: string[]) => (items.length === 0 ? "0" : `${items.length}: ${items.slice(0, 3).join("; ")}`);

/** Calls again while the stack is settling (a restart in progress): at most a minute. */
async function retry<T>(op: () => Promise<T>): Promise<T> {
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      const code = (err as grpc.ServiceError).code;
      const transient = code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED || code === grpc.status.INTERNAL;
      if (!transient || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function metric(stack: RunningStack, service: ServiceName, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.metricsPorts[service]}/metrics`).catch(() => undefined))?.text();
  const line = text?.split("\n").find((l) => l.startsWith(name));
  return Number(line?.split(" ").pop() ?? 0);
}

/** One user's load: new files, new versions, downloads checked byte for byte, moves and deletes, one at a time. */
async function userLoad(stack: RunningStack, user: string, token: string, ledger: Ledger, stop: () => boolean): Promise<void> {
  let n = 0;
  while (!stop()) {
    // A fresh channel per operation: a shared one may be backing off after a kill.
    const c = clientsFor(stack.addresses);
    try {
      const mine = [...ledger.live.values()].filter((a) => a.user === user);
      const roll = randomInt(100);
      const target = mine.length > 0 ? mine[randomInt(mine.length)]! : undefined;
      if (!target || roll < 50) await put(c, user, token, `${user}/f${n++}.bin`, undefined, ledger);
      else if (roll < 65) await put(c, user, token, target.name, target, ledger);
      else if (roll < 85) {
        const got = await download(c, token, target.fileId, { version: target.version }).catch(() => undefined);
        // A failure is allowed under chaos; wrong bytes never are.
        if (got && !got.data.equals(target.data)) ledger.wrongBytes.push(`${target.name} v${target.version}`);
      } else if (roll < 93) {
        const name = `${user}/moved-${n++}.bin`;
        const moved = await call(c.metadata.moveFile, c.metadata, { fileId: target.fileId, newName: name }, token);
        ledger.sent.set(name, new Set([...(ledger.sent.get(target.name) ?? []), sha256(target.data)]));
        target.name = name;
        ledger.expectedChanges.get(user)!.add(`${target.fileId} move ${moved.file!.version} ${name}`);
      } else {
        await call(c.metadata.deleteFile, c.metadata, { fileId: target.fileId }, token);
        ledger.live.delete(target.fileId);
        ledger.deleted.set(target.fileId, user);
        // Of whatever version is newest (an unacknowledged upload may have added one).
        ledger.expectedChanges.get(user)!.add(`${target.fileId} trash `);
      }
    } catch {
      ledger.failedOps++;
    } finally {
      c.close();
    }
  }
}

async function put(c: Clients, user: string, token: string, name: string, previous: Acked | undefined, ledger: Ledger): Promise<void> {
  // Mostly small, sometimes several chunks; random bytes, so every upload is new content.
  const data = randomBytes(randomInt(100) < 80 ? randomInt(1, 256 * 1024) : randomInt(1024 * 1024, 4 * 1024 * 1024));
  const hashes = ledger.sent.get(name) ?? new Set<string>();
  hashes.add(sha256(data));
  ledger.sent.set(name, hashes);
  const file = await upload(c, token, data, { name });
  ledger.uploads++;
  ledger.live.set(file.fileId, { user, fileId: file.fileId, name, data, version: file.version });
  if (previous && previous.fileId !== file.fileId) ledger.live.delete(previous.fileId);
  ledger.expectedChanges.get(user)!.add(`${file.fileId} ${file.version === 1 ? "upload" : "update"} ${file.version} `);
}

/** Lists every user's files now and then: a listed file must hold content that was sent whole under its name. */
async function lister(stack: RunningStack, users: string[], tokens: Map<string, string>, ledger: Ledger, stop: () => boolean): Promise<void> {
  while (!stop()) {
    const c = clientsFor(stack.addresses);
    try {
      for (const user of users) {
        const { files } = await call(c.metadata.listFiles, c.metadata, { pageSize: 1000, pageToken: "", prefix: "" }, tokens.get(user)!);
        for (const f of files) {
          const sent = ledger.sent.get(f.name);
          // A name the ledger learns just after the listing (a move's answer in flight) is no partial file.
          if (sent && !sent.has(f.sha256) && ![...ledger.live.values()].some((a) => a.fileId === f.fileId && sha256(a.data) === f.sha256)) {
            ledger.partialListed.push(`${f.name} (${f.size} bytes, sha256 ${f.sha256.slice(0, 12)}…)`);
          }
        }
      }
    } catch {
      // A kill in progress: list again on the next round.
    } finally {
      c.close();
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

interface Flipped {
  user: string;
  ownerKey: string;
  hash: string;
}

/** SIGKILLs a random service every 20-40 s (a fifth to a third of a short run), restarts PostgreSQL and MinIO once, flips bytes in stored chunks. */
function runChaos(stack: RunningStack, postgres: PostgresServer, minio: MinioServer, seconds: number, stop: () => boolean, say: (line: string) => void) {
  const flipped: Flipped[] = [];
  const started = Date.now();
  const at = (fraction: number) => started + seconds * 1000 * fraction;
  const minGap = Math.round(Math.min(20, seconds / 5) * 1000);
  const maxGap = Math.round(Math.min(40, seconds / 3) * 1000);
  const done = (async () => {
    let nextKill = Date.now() + randomInt(minGap, maxGap);
    let postgresDone = false;
    let minioDone = false;
    let flips = 0;
    while (!stop()) {
      await new Promise((r) => setTimeout(r, 250));
      const now = Date.now();
      if (now >= nextKill) {
        const name = KILLABLE[randomInt(KILLABLE.length)]!;
        const pid = stack.processes.get(name)?.pid;
        if (pid) {
          say(`soak: SIGKILL ${name}`);
          process.kill(pid, "SIGKILL");
        }
        nextKill = now + randomInt(minGap, maxGap);
      }
      if (!postgresDone && now >= at(0.35)) {
        postgresDone = true;
        say("soak: restarting PostgreSQL");
        await postgres.restart();
      }
      if (!minioDone && now >= at(0.6)) {
        minioDone = true;
        say("soak: restarting MinIO");
        await minio.restart();
      }
      if (flips < 3 && now >= at(0.2 + flips * 0.2)) {
        flips++;
        const f = await flipOne(minio, postgres.url).catch(() => undefined);
        if (f) {
          flipped.push(f);
          say(`soak: flipped a byte of chunk ${f.hash.slice(0, 12)}…`);
        }
      }
    }
  })();
  return { done, flipped };
}

/** The stack's chunk store as block storage sees it: packs through their index in the stack's database, over the bucket. */
async function openStore(minio: MinioServer, databaseUrl: string): Promise<{ store: ChunkStore; index: PostgresPackIndex; close: () => Promise<void> }> {
  const index = await PostgresPackIndex.open({ url: databaseUrl, poolMax: 2, preparedStatements: true }, createLogger("soak", "silent"));
  const bucket = await MinioChunkStore.open({ endpoint: minio.endpoint, accessKey: minio.accessKey, secretKey: minio.secretKey, bucket: BUCKET, region: "us-east-1", maxChunkBytes: 16 * 1024 * 1024 });
  const store = new PackedChunkStore(index, bucket, bucket, { maxPackBytes: 16 * 1024 * 1024, packsInFlight: 1, inlinePackBytes: 0 }, { packWritten: () => undefined });
  return {
    store,
    index,
    close: async () => {
      await store.close();
      await index.close();
    },
  };
}

/** Flips one byte of a stored chunk of a soak user inside its pack object, behind block storage's back (bit rot). */
async function flipOne(minio: MinioServer, databaseUrl: string): Promise<Flipped | undefined> {
  const endpoint = new URL(minio.endpoint);
  const client = new MinioClient({ endPoint: endpoint.hostname, port: Number(endpoint.port), useSSL: false, accessKey: minio.accessKey, secretKey: minio.secretKey });
  const { index, close } = await openStore(minio, databaseUrl);
  try {
    const users = ["soak-user-0", "soak-user-1", "soak-user-2", "soak-user-3", "soak-user-4"];
    const candidates = (await index.list(undefined, 1000)).filter((c) => c.size > 1000 && users.some((u) => ownerKeyOf(u) === c.ownerKey));
    if (candidates.length === 0) return undefined;
    const { ownerKey, hash } = candidates[randomInt(candidates.length)]!;
    const at = await index.locate(ownerKey, hash);
    if (!at) return undefined;
    const user = users.find((u) => ownerKeyOf(u) === ownerKey)!;
    if (at.inline) {
      // A small pack kept in the index: the byte is flipped in its row.
      const db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      try {
        await db.query("UPDATE block_packs SET data = set_byte(data, $2, get_byte(data, $2) # 1) WHERE pack = $1", [at.pack, at.offset + randomInt(at.size)]);
      } finally {
        await db.end();
      }
      return { user, ownerKey, hash };
    }
    const key = `packs/${at.pack.slice(0, 2)}/${at.pack}`;
    const parts: Buffer[] = [];
    for await (const part of (await client.getObject(BUCKET, key)) as AsyncIterable<Buffer>) parts.push(part);
    const data = Buffer.concat(parts);
    data[at.offset + randomInt(at.size)]! ^= 0x01;
    await client.putObject(BUCKET, key, data, data.length);
    return { user, ownerKey, hash };
  } finally {
    await close();
  }
}

/** Chunks in the store that nothing in the catalogue refers to. */
async function countOrphans(store: ChunkStore, databaseUrl: string): Promise<string[]> {
  const log = createLogger("soak", "silent");
  const pool = createPool({ url: databaseUrl, max: 1 }, log);
  const references = new PostgresSweepReferences(new PostgresDatabase(pool, log));
  const orphans: string[] = [];
  try {
    let after: { ownerKey: string; hash: string } | undefined;
    for (;;) {
      const page = await store.list(after, 1000);
      if (page.length === 0) break;
      after = page.at(-1);
      const owners = await references.ownersOf([...new Set(page.map((c) => c.ownerKey))]);
      for (const [ownerKey, owner] of [...new Set(page.map((c) => c.ownerKey))].map((k) => [k, owners.get(k)] as const)) {
        const hashes = page.filter((c) => c.ownerKey === ownerKey).map((c) => c.hash);
        const unreferenced = owner === undefined ? hashes : await references.unreferenced(owner, hashes);
        orphans.push(...unreferenced.map((h) => `${ownerKey.slice(0, 8)}…/${h.slice(0, 12)}…`));
      }
    }
  } finally {
    await pool.end();
  }
  return orphans;
}

const TYPE_NAMES: Partial<Record<EventType, string>> = {
  [EventType.EVENT_TYPE_UPLOAD]: "upload",
  [EventType.EVENT_TYPE_UPDATE]: "update",
  [EventType.EVENT_TYPE_MOVE]: "move",
  [EventType.EVENT_TYPE_TRASH]: "trash",
};

/** A `cfs sync`-like client of one user's change feed: reconnects with its last cursor whenever the stream fails. */
class FeedFollower {
  readonly seen = new Set<string>();
  readonly duplicates: string[] = [];
  private cursor = "";
  private stopped = false;
  private current: grpc.ClientReadableStream<WatchChangesResponse> | undefined;
  private clients: Clients | undefined;

  constructor(
    private readonly stack: RunningStack,
    private readonly token: string,
  ) {}

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.current?.cancel();
    this.clients?.close();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.clients?.close();
      this.clients = clientsFor(this.stack.addresses);
      await new Promise<void>((resolve) => {
        const stream = this.clients!.sync.watchChanges({ cursor: this.cursor }, auth(this.token));
        this.current = stream;
        stream.on("data", (m: WatchChangesResponse) => {
          if (m.change) {
            // Two moves of a file keep its version: the name tells them apart.
            const key = `${m.change.fileId} ${TYPE_NAMES[m.change.eventType] ?? m.change.eventType} ${m.change.version} ${m.change.name}`;
            if (this.seen.has(key)) this.duplicates.push(key);
            this.seen.add(key);
          }
          this.cursor = m.cursor;
        });
        stream.on("error", () => resolve());
        stream.on("end", () => resolve());
      });
      if (!this.stopped) await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function missingChanges(ledger: Ledger, user: string, feed: FeedFollower): string[] {
  const seen = [...feed.seen];
  return [...ledger.expectedChanges.get(user)!].filter((prefix) => !seen.some((k) => k.startsWith(prefix)));
}
