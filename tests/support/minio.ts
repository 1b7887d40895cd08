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
  const child: ChildProcess = spawn(
    binary,
    ["server", dir, "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`, "--quiet"],
    {
      env: { ...process.env, MINIO_ROOT_USER: accessKey, MINIO_ROOT_PASSWORD: secretKey, MINIO_BROWSER: "off", MINIO_UPDATE: "off" },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${endpoint}/minio/health/ready`)).ok, 30_000, "MinIO ready");
  return {
    endpoint,
    accessKey,
    secretKey,
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once("exit", resolve)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
