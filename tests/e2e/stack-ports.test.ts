import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bindServer } from "#lib/grpc-server.js";
import { freeStackPorts, startStack, type StackPorts } from "../../dev/stack.js";
import { clientsFor, download, upload } from "../support/clients.js";

// A stack picks its free ports before its services bind them, so another
// process can take one in between: CI once had another test's gRPC server
// answer on the chunker's port, and pass as the chunker.
let foreign: grpc.Server;
let foreignPort: number;
const dataDirs: string[] = [];

beforeAll(async () => {
  // Like any of our servers, it says SERVING for "", and serves nothing else.
  foreign = new grpc.Server();
  new HealthImplementation({ "": "SERVING" }).addToServer(foreign);
  foreignPort = await bindServer(foreign, "127.0.0.1", 0);
});

afterAll(async () => {
  foreign?.forceShutdown();
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newDataDir(): Promise<string> {
  dataDirs.push(await mkdtemp(join(tmpdir(), "cfs-stack-ports-")));
  return dataDirs.at(-1)!;
}

/** Free ports, but the chunker's is the foreign server's in the first `takenAttempts` attempts. */
function chunkerPortTaken(takenAttempts: number) {
  const attempts: StackPorts[] = [];
  const choosePorts = async () => {
    const ports = await freeStackPorts();
    if (attempts.length < takenAttempts) ports.services.chunker = foreignPort;
    attempts.push(ports);
    return ports;
  };
  return { attempts, choosePorts };
}

describe("a stack whose port another server took", () => {
  it("starts again on new ports, with a chunker that is its own", async () => {
    const { attempts, choosePorts } = chunkerPortTaken(1);
    const stack = await startStack({ dataDir: await newDataDir(), defaultPorts: false, logs: "files", choosePorts });
    const c = clientsFor(stack.addresses);
    try {
      // The first attempt met the foreign server; a later one may meet another
      // process that took one of its ports meanwhile (CI once did), and retries too.
      expect(attempts.length).toBeGreaterThanOrEqual(2);
      expect(attempts[0]!.services.chunker).toBe(foreignPort);
      const last = attempts.at(-1)!;
      expect(last.services.chunker).not.toBe(foreignPort);
      expect(stack.addresses.chunker).toBe(`127.0.0.1:${last.services.chunker}`);
      const alice = await stack.issuer!.userToken("alice");
      const data = Buffer.from("uploaded through the stack's own chunker");
      const file = await upload(c, alice, data, { name: "ports.txt" });
      expect((await download(c, alice, file.fileId)).data.equals(data)).toBe(true);
    } finally {
      c.close();
      await stack.stop();
    }
  });

  it("fails after the last attempt, saying which service could not start and why", async () => {
    const { attempts, choosePorts } = chunkerPortTaken(Infinity);
    await expect(startStack({ dataDir: await newDataDir(), defaultPorts: false, logs: "files", choosePorts })).rejects.toThrow(
      /did not start in 3 attempts.*chunker exited with code 1 while starting.*EADDRINUSE/s,
    );
    expect(attempts).toHaveLength(3);
    // Three stack starts on two shared cores.
  }, 240_000);
});
