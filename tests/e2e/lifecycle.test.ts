import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack, type ServiceName } from "../../dev/stack.js";
import { auth, call, clientsFor, download, upload, type Clients } from "../support/clients.js";
import { startHungPeer } from "../support/hung-peer.js";
import { waitFor } from "../support/net.js";
import { EventStatus, EventType } from "#gen/cfs/sync/v1/sync.js";
import type { File } from "#gen/cfs/metadata/v1/metadata.js";

// Processes killed, stopped and restarted under real traffic.
let stack: RunningStack;
let dataDir: string;
let c: Clients;
let alice: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cfs-lifecycle-"));
  stack = await startStack({ dataDir, defaultPorts: false, logs: "files", env: { CFS_SHUTDOWN_GRACE_MS: "15000" } });
  c = clientsFor(stack.addresses);
  alice = await stack.issuer!.userToken("alice");
});

afterAll(async () => {
  c?.close();
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const serviceLog = (name: string) => readFile(join(dataDir, "logs", `${name}.log`), "utf8");

/**
 * Puts a hung server in `peer`'s place, has `stopping` call it (`trigger`
 * starts work that does), and sends `stopping` SIGTERM once one of `methods`
 * reached it: the call must be cancelled well before its own deadline would
 * have ended it, and the process exit 0 having logged `logged`. Then both
 * are started again, and every service is serving.
 */
async function stopWhileCallingHungPeer(o: { peer: ServiceName; stopping: ServiceName; methods: string[]; trigger: () => Promise<void>; logged: string }): Promise<void> {
  await stack.kill(o.peer, "SIGKILL");
  const hung = await startHungPeer(stack.addresses[o.peer]);
  try {
    await o.trigger();
    const pending = await hung.request(o.methods, 30_000);
    const stopped = stack.kill(o.stopping, "SIGTERM");
    const { code, afterMs } = await pending.closed;
    expect(code).toBe(http2.constants.NGHTTP2_CANCEL);
    expect(pending.deadlineMs).toBeGreaterThan(10_000);
    expect(afterMs).toBeLessThan(pending.deadlineMs! / 2);
    await stopped;
    expect(stack.processes.get(o.stopping)!.exitCode).toBe(0);
    expect(await serviceLog(o.stopping)).toContain(o.logged);
  } finally {
    await hung.close();
  }
  await Promise.all([stack.start(o.peer), stack.start(o.stopping)]);
  // The stack as the next test expects it: the others saw `peer` gone, and
  // report it through their health until their next check of it.
  await waitFor(async () => (await stack.notServing()).length === 0, 30_000, "every service to be serving again");
}

/** Starts an upload, sends `before` bytes, runs `between`, then sends the rest. */
function interruptedUpload(name: string, data: Buffer, before: number, between: () => Promise<void>, client = c): Promise<File> {
  return new Promise<File>((resolve, reject) => {
    const stream = client.chunker.uploadFile(auth(alice), (err, res) => (err ? reject(err) : resolve(res.file!)));
    void (async () => {
      stream.write({ payload: { $case: "metadata", value: { name, size: data.length, contentType: "" } } });
      const frame = 256 * 1024;
      for (let offset = 0; offset < data.length; offset += frame) {
        if (offset === before) await between();
        if (!stream.write({ payload: { $case: "data", value: data.subarray(offset, offset + frame) } })) {
          await new Promise((r) => stream.once("drain", r));
        }
      }
      stream.write({ payload: { $case: "finish", value: {} } });
      stream.end();
    })().catch(reject);
  });
}

async function names(): Promise<string[]> {
  const fresh = clientsFor(stack.addresses);
  const { files } = await call(fresh.metadata.listFiles, fresh.metadata, { pageSize: 1000, pageToken: "", prefix: "" }, alice).finally(() => fresh.close());
  return files.map((f) => f.name);
}

/** Bytes of UploadFile requests the chunker has received so far (its own metric). */
async function uploadBytesReceived(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.metricsPorts.chunker}/metrics`)).text();
  const match = /cfs_grpc_server_received_bytes_total\{method="ChunkerService\/UploadFile"[^}]*\} (\d+)/.exec(text);
  return match ? Number(match[1]) : 0;
}

function healthOf(address: string, serviceName: string): Promise<string> {
  const Client = grpc.makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    check(r: { service: string }, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void): void;
  };
  return new Promise<string>((resolve, reject) =>
    client.check({ service: serviceName }, { deadline: Date.now() + 2000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res!.status);
    }),
  ).catch((err: grpc.ServiceError) => grpc.status[err.code]);
}

describe("crashes", () => {
  it("a chunker killed with SIGKILL mid-upload leaves no file, and uploads work after restart", async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const attempt = interruptedUpload("killed.bin", data, 4 * 1024 * 1024, () => stack.kill("chunker", "SIGKILL"));
    await expect(attempt).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(await names()).not.toContain("killed.bin");
    await stack.start("chunker");
    const fresh = clientsFor(stack.addresses);
    try {
      const file = await upload(fresh, alice, data, { name: "killed.bin" });
      expect((await download(fresh, alice, file.fileId)).data.equals(data)).toBe(true);
      expect(file.version).toBe(1);
    } finally {
      fresh.close();
    }
  });

  it("a metadata service killed with SIGKILL before the commit and started again: the chunker's commit waits for it (waitForReady)", async () => {
    const data = randomBytes(3 * 1024 * 1024);
    // A fresh channel: the shared one may still be backing off after the chunker's restart above.
    const fresh = clientsFor(stack.addresses);
    try {
      const file = await interruptedUpload(
        "restarted-commit.bin",
        data,
        2 * 1024 * 1024,
        async () => {
          await stack.kill("metadata", "SIGKILL");
          await stack.start("metadata");
        },
        fresh,
      );
      expect(await names()).toContain("restarted-commit.bin");
      expect((await download(fresh, alice, file.fileId)).data.equals(data)).toBe(true);
    } finally {
      fresh.close();
    }
  });
});

describe("graceful shutdown and health", () => {
  it("SIGTERM lets an upload in flight finish, then the chunker stops", async () => {
    const data = randomBytes(6 * 1024 * 1024);
    const before = await uploadBytesReceived();
    let stopped: Promise<void> | undefined;
    const client = clientsFor(stack.addresses);
    const file = await interruptedUpload(
      "drained.bin",
      data,
      2 * 1024 * 1024,
      async () => {
        // Only calls in flight are drained (new ones are refused): signal once
        // the chunker has received the first bytes of this upload.
        await waitFor(async () => (await uploadBytesReceived()) >= before + 1024 * 1024, 20_000, "the upload to reach the chunker");
        stopped = stack.kill("chunker", "SIGTERM");
      },
      client,
    ).finally(() => client.close());
    expect(file.size).toBe(data.length);
    await stopped;
    expect(stack.processes.get("chunker")!.exitCode).toBe(0);
    await stack.start("chunker");
    const fresh = clientsFor(stack.addresses);
    try {
      expect((await download(fresh, alice, file.fileId)).data.equals(data)).toBe(true);
    } finally {
      fresh.close();
    }
  });

  // A peer that hangs must not hold a stopping service past its grace
  // period (Kubernetes then kills it): background calls are cancelled, and
  // their work waits for the next process. Each call would otherwise wait
  // for its deadline (30 s), as calls between services wait for a peer.
  it("SIGTERM cancels metadata's relay call to a sync service that hangs; the event reaches sync once it is back", async () => {
    let file: File | undefined;
    await stopWhileCallingHungPeer({
      peer: "sync",
      stopping: "metadata",
      methods: ["/RecordEvents"],
      trigger: async () => {
        file = await upload(c, alice, Buffer.from("relayed later"), { name: "relayed-later.txt" });
      },
      logged: "outbox relay stopped mid-run",
    });
    const fresh = clientsFor(stack.addresses);
    try {
      await waitFor(
        async () => (await call(fresh.sync.getFileSyncStatus, fresh.sync, { fileId: file!.fileId }, alice)).status === EventStatus.EVENT_STATUS_COMPLETED,
        30_000,
        "the upload's event to be relayed and verified",
      );
    } finally {
      fresh.close();
    }
  });

  it("SIGTERM cancels sync's verification call to a block storage that hangs; the event is verified once it is back", async () => {
    const file = await upload(c, alice, randomBytes(3000), { name: "verified-later.bin" });
    const status = async (clients: Clients) => call(clients.sync.getFileSyncStatus, clients.sync, { fileId: file.fileId }, alice);
    await waitFor(async () => (await status(c)).status === EventStatus.EVENT_STATUS_COMPLETED, 30_000, "the upload to be verified");
    await stopWhileCallingHungPeer({
      peer: "block-storage",
      stopping: "sync",
      methods: ["/HasChunks", "/ReadChunks"],
      // Trash is verified as the content it keeps: sync asks block storage.
      trigger: () => call(c.metadata.deleteFile, c.metadata, { fileId: file.fileId }, alice).then(() => undefined),
      logged: "verification interrupted: the sync service is stopping",
    });
    const fresh = clientsFor(stack.addresses);
    try {
      await waitFor(
        async () => {
          const { status: s, latestEvent } = await status(fresh);
          return latestEvent?.eventType === EventType.EVENT_TYPE_TRASH && s === EventStatus.EVENT_STATUS_COMPLETED;
        },
        30_000,
        "the trash to be verified",
      );
      expect((await status(fresh)).latestEvent?.verification?.action).toBe("trash_synchronized");
    } finally {
      fresh.close();
    }
  });

  it("health reflects a lost dependency and recovers with it", async () => {
    // The test before stood a hung peer in for block storage: the chunker's next dependency check says SERVING again.
    await waitFor(async () => (await healthOf(stack.addresses.chunker, "cfs.chunker.v1.ChunkerService")) === "SERVING", 20_000, "chunker SERVING");
    expect(await healthOf(stack.addresses.chunker, "no.such.Service")).toBe("NOT_FOUND");
    await stack.kill("block-storage", "SIGKILL");
    await waitFor(async () => (await healthOf(stack.addresses.chunker, "")) === "NOT_SERVING", 20_000, "chunker NOT_SERVING");
    await stack.start("block-storage");
    await waitFor(async () => (await healthOf(stack.addresses.chunker, "")) === "SERVING", 20_000, "chunker SERVING again");
  });

  it("exports RPC metrics by method and code", async () => {
    // A fresh channel: the shared one may still be backing off after the restarts above.
    const fresh = clientsFor(stack.addresses);
    await upload(fresh, alice, Buffer.from("metrics"), { name: "metrics.txt" });
    fresh.close();
    const text = await (await fetch(`http://127.0.0.1:${stack.metricsPorts.chunker}/metrics`)).text();
    expect(text).toMatch(/cfs_grpc_server_handled_total\{method="ChunkerService\/UploadFile",code="OK",service="chunker"\} \d+/);
    expect(text).toMatch(/cfs_grpc_server_received_bytes_total\{method="ChunkerService\/UploadFile",service="chunker"\} \d+/);
    expect(text).toContain("cfs_grpc_server_handling_seconds_bucket");
  });
});
