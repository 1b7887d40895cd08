import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVICE_V8_FLAGS } from "../../dev/stack.js";
import { REPO, run, TOOL_BUILD_TIMEOUT_MS, tools, yamlToJson, type Tools } from "./tools.js";

/**
 * What cannot run here (docker build, kind, skaffold), checked offline: the
 * Dockerfile's stages and rules, skaffold.yaml against skaffold/v4beta13's
 * fields (tools/k8s-check skaffold: skaffold itself is not served by the Go
 * module proxy), and the kind cluster's port mappings against the chart's.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

let t: Tools;
const scratch = mkdtempSync(join(tmpdir(), "cfs-deploy-"));
beforeAll(async () => {
  t = await tools();
}, TOOL_BUILD_TIMEOUT_MS);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const read = (path: string) => readFileSync(join(REPO, path), "utf8");

interface Stage {
  from: string;
  name: string;
  lines: string[];
}

function stages(dockerfile: string): Stage[] {
  const args = Object.fromEntries([...dockerfile.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  const out: Stage[] = [];
  // Instructions, with continuation lines joined.
  for (const line of dockerfile.replace(/\\\n\s*/g, " ").split("\n")) {
    const from = /^FROM\s+(\S+)\s+AS\s+(\S+)\s*$/i.exec(line);
    if (from) out.push({ from: from[1]!.replace(/\$\{(\w+)\}/g, (_, n: string) => args[n] ?? `\${${n}}`), name: from[2]!, lines: [] });
    else if (/^[A-Z]+\s/.test(line)) out.at(-1)?.lines.push(line);
  }
  return out;
}

describe("Dockerfile", () => {
  const dockerfile = read("Dockerfile");
  const all = stages(dockerfile);
  const byName = new Map(all.map((s) => [s.name, s]));
  const lineage = (name: string): Stage[] => {
    const stage = byName.get(name);
    return stage ? [stage, ...lineage(stage.from)] : [];
  };

  it("has a stage for every image skaffold builds", async () => {
    const [config] = await yamlToJson<Json>(t, read("skaffold.yaml"));
    for (const artifact of config.build.artifacts) {
      expect(byName.has(artifact.docker.target), artifact.image).toBe(true);
    }
  });

  it("starts every stage from a pinned official base image (no latest)", () => {
    for (const stage of all.filter((s) => !byName.has(s.from))) {
      expect(stage.from, stage.name).toMatch(/^(node|nginxinc\/nginx-unprivileged):\d+(\.\d+)*-[a-z0-9.-]+$/);
    }
  });

  it("runs each service as compiled JavaScript under tini, as a numeric non-root user, with no HEALTHCHECK", () => {
    for (const service of ["chunker", "metadata", "block-storage", "sync", "webdav"]) {
      const chain = lineage(service);
      const lines = chain.flatMap((s) => s.lines);
      expect(chain.map((s) => s.name), service).toEqual([service, "runtime"]);
      expect(lines).toContain(`CMD ["dist/services/${service}/src/main.js"]`);
      // The V8 flags the services were measured with (dev/stack.ts).
      expect(lines).toContain(`ENTRYPOINT ${JSON.stringify(["/usr/bin/tini", "--", "node", ...SERVICE_V8_FLAGS]).replaceAll(",", ", ")}`);
      expect(lines.find((l) => l.startsWith("USER"))).toMatch(/^USER [1-9]\d*:[1-9]\d*$/);
      expect(lines.some((l) => l.startsWith("HEALTHCHECK"))).toBe(false);
    }
  });

  it("sets the allocator environment the services were measured with (dev/stack.ts)", () => {
    const measured = [...read("dev/stack.ts").matchAll(/^\s*(MALLOC_\w+|NODE_OPTIONS): "([^"]+)",/gm)].map((m) => `${m[1]}=${m[2]}`);
    expect(measured.length).toBeGreaterThan(0);
    const env = byName.get("runtime")!.lines.filter((l) => l.startsWith("ENV ")).flatMap((l) => l.split(/\s+/).slice(1));
    for (const setting of measured) expect(env, setting).toContain(setting);
  });

  it("builds with the repository's build script and ships production dependencies only", () => {
    expect(byName.get("deps")!.lines).toContain("RUN npm ci --omit=dev --no-audit --no-fund");
    expect(byName.get("build")!.lines).toContain("RUN scripts/build.sh");
    const runtime = byName.get("runtime")!.lines;
    expect(runtime).toContain("COPY --from=deps /app/node_modules ./node_modules");
    expect(runtime).toContain("COPY --from=build /app/dist ./dist");
    expect(runtime.some((l) => /COPY --from=build \/app\/node_modules/.test(l))).toBe(false);
  });

  it("copies only paths that exist, and keeps them in the build context (.dockerignore)", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#") && !l.startsWith("!"));
    for (const stage of all) {
      for (const line of stage.lines.filter((l) => l.startsWith("COPY ") && !l.includes("--from="))) {
        const sources = line.split(/\s+/).slice(1, -1);
        for (const source of sources) {
          expect(() => readFileSync(join(REPO, source.replace(/\/$/, "")), { flag: "r" }), source).not.toThrow(/ENOENT/);
          const top = source.split("/")[0]!;
          expect(ignored.includes(top) || ignored.includes(source), `${source} is not in .dockerignore`).toBe(false);
        }
      }
    }
    for (const heavy of ["**/node_modules", ".git", ".data", "dist"]) expect(ignored).toContain(heavy);
  });
});

describe("skaffold.yaml", () => {
  it("is valid against skaffold/v4beta13, with every profile applied", async () => {
    const { code, stdout, stderr } = await run(t.k8sCheck, ["skaffold", join(REPO, "skaffold.yaml")]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/valid/);
  });

  it("builds every image and hands each to the chart, and has a CI profile", async () => {
    const [config] = await yamlToJson<Json>(t, read("skaffold.yaml"));
    const images = config.build.artifacts.map((a: Json) => a.image).sort();
    expect(images).toEqual(["cfs/block-storage", "cfs/chunker", "cfs/dev-issuer", "cfs/metadata", "cfs/sync", "cfs/web", "cfs/webdav"]);
    const release = config.deploy.helm.releases[0];
    expect(release.chartPath).toBe("deploy/helm/cfs");
    const [values] = await yamlToJson<Json>(t, read("deploy/helm/cfs/values.yaml"));
    for (const [key, template] of Object.entries<string>(release.setValueTemplates)) {
      const [top, image, field] = key.split(".");
      expect(values[top!]?.[image!], `${key} is a value of the chart`).toHaveProperty([field!]);
      expect(template).toMatch(/^\{\{\.IMAGE_(REPO|TAG)_cfs_[a-z_]+\}\}$/);
    }
    expect(config.profiles.map((p: Json) => p.name)).toContain("ci");
  });

  const broken: Array<[string, (text: string) => string, RegExp]> = [
    ["an unknown field", (s) => s.replace("  local:\n", "  local:\n    pushImages: false\n"), /unknown field "pushImages"/],
    ["a Dockerfile target that does not exist", (s) => s.replace("target: sync}", "target: synk}"), /no stage named "synk"/],
    ["an image built but never deployed", (s) => s.replace(/ {10}sync\.image\.tag: .*\n/, "").replace(/ {10}sync\.image\.repository: .*\n/, ""), /cfs_sync is built but no release uses it/],
    ["a profile patch to a path that does not exist", (s) => s.replace("path: /build/local/concurrency", "path: /build/locals/concurrency"), /profiles\[0\] \(ci\)\.patches\[1\]/],
    ["an older apiVersion", (s) => s.replace("skaffold/v4beta13", "skaffold/v2beta29"), /apiVersion must be skaffold\/v4beta13/],
    ["a values file that does not exist", (s) => s.replace("- deploy/kind/values.yaml", "- deploy/kind/value.yaml"), /valuesFiles/],
    ["a git tagger variant outside the schema's enum", (s) => s.replace("variant: CommitSha", "variant: CommitSHA"), /gitCommit\.variant "CommitSHA" is not one of/],
  ];
  it.each(broken)("the check rejects %s", async (_what, edit, message) => {
    const original = read("skaffold.yaml");
    const changed = edit(original);
    expect(changed).not.toBe(original);
    const file = join(scratch, "skaffold.yaml");
    writeFileSync(file, changed);
    const { code, stderr } = await run(t.k8sCheck, ["skaffold", file, REPO]);
    expect(code).toBe(1);
    expect(stderr).toMatch(message);
  });
});

describe("kind", () => {
  it("maps to the host exactly the node ports the kind values give the gateway and the dev issuer", async () => {
    const [cluster] = await yamlToJson<Json>(t, read("deploy/kind/cluster.yaml"));
    const [values] = await yamlToJson<Json>(t, read("deploy/kind/values.yaml"));
    expect(cluster.kind).toBe("Cluster");
    expect(cluster.apiVersion).toBe("kind.x-k8s.io/v1alpha4");
    const mappings = cluster.nodes[0].extraPortMappings.map((m: Json) => [m.containerPort, m.hostPort, m.listenAddress]);
    expect(mappings).toEqual([
      [values.gateway.service.nodePort, 8080, "127.0.0.1"],
      [values.devIssuer.service.nodePort, 8090, "127.0.0.1"],
    ]);
    expect(values.gateway.service.type).toBe("NodePort");
    expect(values.devIssuer.service.type).toBe("NodePort");
    // The README's commands use these host ports.
    const readme = read("deploy/README.md");
    expect(readme).toContain("CFS_DEV_ISSUER_URL=http://localhost:8090");
    expect(readme).toContain("CFS_CHUNKER_ADDR=localhost:8080");
  });
});
