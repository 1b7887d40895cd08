import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import type { SupervisionEvent } from "../../dev/supervisor.js";
import { clientsFor, download, upload } from "../support/clients.js";
import { waitFor } from "../support/net.js";

// make run's supervision (checklist 41): a service that dies is restarted with
// backoff and a log line, and the edge's /healthz shows the gap meanwhile.
let stack: RunningStack;
let dataDir: string;
const events: SupervisionEvent[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cfs-supervision-"));
  stack = await startStack({
    dataDir,
    defaultPorts: false,
    logs: "files",
    edge: {},
    inheritedEnv: { CFS_GC_GRACE_SECONDS: "7", CFS_PORT: "1" },
    supervise: { onEvent: (e) => events.push(e) },
  });
});

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const healthz = async () => {
  const res = await fetch(`${stack.edgeUrl}/healthz`);
  return { status: res.status, text: await res.text() };
};

describe("supervision", () => {
  it("passes the caller's CFS_* variables to every service, under the stack's own wiring", () => {
    for (const name of ["metadata", "chunker", "sync", "block-storage", "webdav"] as const) {
      expect(stack.env[name].CFS_GC_GRACE_SECONDS).toBe("7");
      expect(stack.env[name].CFS_PORT).toBe(stack.addresses[name].split(":")[1]);
    }
  });

  it("restarts a service killed with SIGKILL, and /healthz is 503 naming it until it serves again", async () => {
    expect(await healthz()).toEqual({ status: 200, text: "ok\n" });
    const killed = stack.processes.get("chunker")!;
    process.kill(killed.pid!, "SIGKILL");
    await waitFor(async () => events.some((e) => e.service === "chunker" && e.kind === "exited"), 10_000, "the exit to be noticed");
    const exited = events.find((e) => e.kind === "exited")!;
    expect(exited).toMatchObject({ signal: "SIGKILL", restarts: 1, delayMs: 500 });
    // Until the restart is serving, health names the chunker (and the WebDAV server, not ready while its chunker is gone, when it noticed).
    const during = await healthz();
    if (!events.some((e) => e.kind === "restarted")) {
      expect(during.status).toBe(503);
      expect(during.text).toMatch(/^not serving: chunker(, webdav)?\n$/);
    }
    await waitFor(async () => events.some((e) => e.service === "chunker" && e.kind === "restarted"), 60_000, "the chunker restarted");
    expect(stack.processes.get("chunker")).not.toBe(killed);
    await waitFor(async () => (await healthz()).status === 200, 20_000, "/healthz ok again");

    const clients = clientsFor(stack.addresses);
    try {
      const token = await stack.issuer!.userToken("alice");
      const file = await upload(clients, token, Buffer.from("after the restart"), { name: "after.txt" });
      expect((await download(clients, token, file.fileId)).data.toString()).toBe("after the restart");
    } finally {
      clients.close();
    }
  });

  it("does not restart a service stopped on purpose", async () => {
    const before = events.length;
    await stack.kill("sync", "SIGKILL");
    await waitFor(async () => (await healthz()).text === "not serving: sync\n", 10_000, "health naming sync");
    expect(events.length).toBe(before);
    await stack.start("sync");
    await waitFor(async () => (await healthz()).status === 200, 20_000, "/healthz ok again");
  });
});
