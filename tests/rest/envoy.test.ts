import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { describe, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { validateEnvoyYaml } from "../deploy/envoy.js";
import { REPO, run } from "../deploy/tools.js";
import { freePort, waitFor } from "../support/net.js";
import { describeRestContract } from "./contract.js";

/**
 * The REST contract against Envoy itself: the stack on free loopback ports,
 * the descriptor set built by gateway/build-descriptor.sh, the chart's Envoy
 * config rendered by scripts/gateway-config.sh for the stack's ports and dev
 * issuer (the same template as gateway/envoy.yaml and the cluster's), checked
 * by tools/envoy-check, and Envoy started on a free port. Needs an `envoy`
 * binary on PATH (or CFS_ENVOY); without one the suite is skipped.
 */

const PAGE_ORIGIN = "http://localhost:5173";
const START_TIMEOUT_MS = 60_000;

function findEnvoy(): string | undefined {
  const candidates = process.env.CFS_ENVOY ? [process.env.CFS_ENVOY] : (process.env.PATH ?? "").split(delimiter).map((d) => join(d, "envoy"));
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const envoy = findEnvoy();

if (!envoy) {
  process.stderr.write("tests/rest/envoy.test.ts: skipped, no `envoy` on PATH (install Envoy v1.40 or set CFS_ENVOY)\n");
  describe.skip("REST contract: envoy — skipped: no `envoy` binary on PATH (install Envoy v1.40, e.g. copy /usr/local/bin/envoy out of the envoyproxy/envoy:v1.40.0 image, or set CFS_ENVOY=/path/to/envoy)", () => {
    it("runs the REST contract against Envoy", () => {});
  });
} else {
  describeRestContract("envoy", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cfs-rest-envoy-"));
    let stack: RunningStack | undefined;
    let proxy: ChildProcess | undefined;
    const stop = async () => {
      if (proxy && proxy.exitCode === null && proxy.signalCode === null) {
        const exited = new Promise((resolve) => proxy!.once("exit", resolve));
        proxy.kill("SIGTERM");
        await exited;
      }
      await stack?.stop();
      await rm(dir, { recursive: true, force: true });
    };
    try {
      stack = await startStack({ dataDir: join(dir, "data"), defaultPorts: false, logs: "files" });
      const issuer = stack.issuer!;

      const descriptor = join(dir, "descriptor.binpb");
      const built = await run(join(REPO, "gateway/build-descriptor.sh"), [descriptor]);
      if (built.code !== 0) throw new Error(`gateway/build-descriptor.sh failed:\n${built.stderr}`);

      const [port, metricsPort, adminPort] = [await freePort(), await freePort(), await freePort()];
      const config = join(dir, "envoy.yaml");
      const set = (key: string, value: string | number) => ["--set-string", `${key}=${value}`];
      const rendered = await run(join(REPO, "scripts/gateway-config.sh"), [
        "-o",
        config,
        "--set",
        `gateway.port=${port},gateway.metricsPort=${metricsPort},gateway.adminPort=${adminPort}`,
        ...set("gateway.upstreams.chunker", stack.addresses.chunker),
        ...set("gateway.upstreams.metadata", stack.addresses.metadata),
        ...set("gateway.upstreams.sync", stack.addresses.sync),
        ...set("gateway.descriptorSet.path", descriptor),
        "--set",
        `gateway.cors.allowedOrigins={${PAGE_ORIGIN}}`,
        ...set("devIssuer.issuerUrl", issuer.issuer),
        ...set("auth.jwksUri", issuer.jwksUri),
        ...set("auth.audience", stack.audience),
      ]);
      if (rendered.code !== 0) throw new Error(`scripts/gateway-config.sh failed:\n${rendered.stderr}`);
      const problems = await validateEnvoyYaml(await readFile(config, "utf8"), { descriptorSet: descriptor });
      if (problems.length > 0) throw new Error(`the rendered Envoy config is invalid:\n${problems.join("\n")}`);

      const log = join(dir, "envoy.log");
      proxy = spawn(envoy, ["-c", config, "--disable-hot-restart", "--log-level", "warn"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
      const out = createWriteStream(log);
      proxy.stdout!.pipe(out);
      proxy.stderr!.pipe(out);
      const running = proxy;
      const exited = new Promise<string>((resolve) => running.once("exit", (code, signal) => resolve(`envoy exited (${signal ?? code}) while starting`)));
      const ready = waitFor(
        async () => (await fetch(`http://127.0.0.1:${adminPort}/ready`).catch(() => undefined))?.status === 200,
        START_TIMEOUT_MS,
        "envoy to be ready",
      ).then(() => "");
      const failure = await Promise.race([ready.catch((err: Error) => err.message), exited]);
      if (failure) {
        const tail = (await readFile(log, "utf8").catch(() => "")).slice(-3000);
        throw new Error(`${failure}\n--- end of envoy.log ---\n${tail}`);
      }
      return {
        baseUrl: `http://127.0.0.1:${port}`,
        issuer,
        audience: stack.audience,
        pageOrigin: PAGE_ORIGIN,
        chunkerMetricsUrl: `http://127.0.0.1:${stack.metricsPorts.chunker}/metrics`,
        stop,
      };
    } catch (err) {
      await stop();
      throw err;
    }
  });
}
