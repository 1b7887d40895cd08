import { execFileSync, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { freePort, waitFor } from "../dev/net.js";

/**
 * tusd (the tus reference server, pinned in scripts/go-tool.sh) with its S3
 * store on the same MinIO as cfs: make bench's peer. It reads the
 * credentials and region from AWS_* variables (MinIO ignores the region but
 * the AWS SDK wants one); `-s3-endpoint` points it at MinIO (it then
 * addresses buckets by path); `-s3-disable-content-hashes` spares it the MD5
 * and SHA-256 of every part, the setting of the measurements in
 * performance-facts.md. It buffers S3 parts (50 MiB) in temporary files, so
 * TMPDIR is a folder of the bench. No `-behind-proxy`: clients talk to it
 * directly, so the upload URLs it returns are right as they are. The bucket
 * must exist before the first upload.
 */
export interface RunningTusd {
  /** The upload endpoint, e.g. http://127.0.0.1:1234/files/ */
  filesUrl: string;
  pid: number;
  stop(): Promise<void>;
}

export interface TusdOptions {
  s3: { endpoint: string; accessKey: string; secretKey: string; bucket: string };
  /** Its temporary part files and its log (tusd.log) go here. */
  dir: string;
}

export async function startTusd(options: TusdOptions): Promise<RunningTusd> {
  const binary = execFileSync("bash", [new URL("../scripts/go-tool.sh", import.meta.url).pathname, "tusd"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  const tmp = join(options.dir, "tusd-tmp");
  await mkdir(tmp, { recursive: true });
  const port = await freePort();
  const log = createWriteStream(join(options.dir, "tusd.log"), { flags: "a" });
  const child = spawn(
    binary,
    [
      "-host=127.0.0.1",
      `-port=${port}`,
      "-base-path=/files/",
      `-s3-bucket=${options.s3.bucket}`,
      `-s3-endpoint=${options.s3.endpoint}`,
      "-s3-disable-content-hashes",
      // cfs logs at warn level in the bench; tusd's per-request lines off likewise.
      "-verbose=false",
    ],
    {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        TMPDIR: tmp,
        AWS_ACCESS_KEY_ID: options.s3.accessKey,
        AWS_SECRET_ACCESS_KEY: options.s3.secretKey,
        AWS_REGION: "us-east-1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const filesUrl = `http://127.0.0.1:${port}/files/`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
    log.end();
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`tusd exited with code ${child.exitCode} (see ${join(options.dir, "tusd.log")})`);
        return (await fetch(filesUrl, { method: "OPTIONS" })).headers.has("tus-version");
      },
      30_000,
      "tusd to serve",
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { filesUrl, pid: child.pid!, stop };
}
