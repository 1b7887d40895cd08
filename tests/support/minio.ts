import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "./net.js";

export interface MinioServer {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** The server process (make bench reads its CPU time and peak RSS). */
  pid: number;
  /** Stops the server and starts it again on the same port and data (the soak). */
  restart: () => Promise<void>;
  stop: () => Promise<void>;
}

/** The pinned MinIO binary, built from the Go module proxy on first use. */
export function minioBinary(): string {
  return execFileSync("bash", [new URL("../../scripts/go-tool.sh", import.meta.url).pathname, "minio"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

/** A real MinIO server on a free loopback port with a throwaway data dir. */
export async function startMinio(): Promise<MinioServer> {
  const binary = minioBinary();
  const dir = await mkdtemp(join(tmpdir(), "cfs-minio-"));
  const port = await freePort();
  const consolePort = await freePort();
  const accessKey = "cfstestaccess";
  const secretKey = "cfstestsecret123";
  const launch = (): ChildProcess =>
    spawn(binary, ["server", dir, "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`, "--quiet"], {
      env: { ...process.env, MINIO_ROOT_USER: accessKey, MINIO_ROOT_PASSWORD: secretKey, MINIO_BROWSER: "off", MINIO_UPDATE: "off" },
      stdio: ["ignore", "ignore", "inherit"],
    });
  const endpoint = `http://127.0.0.1:${port}`;
  const ready = () => waitFor(async () => (await fetch(`${endpoint}/minio/health/ready`).catch(() => undefined))?.ok === true, 30_000, "MinIO ready");
  let child = launch();
  await ready();
  const halt = async () => {
    const exited = new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once("exit", resolve)));
    child.kill("SIGTERM");
    await exited;
  };
  return {
    endpoint,
    accessKey,
    secretKey,
    get pid() {
      return child.pid!;
    },
    restart: async () => {
      await halt();
      child = launch();
      await ready();
    },
    stop: async () => {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
