import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The offline tools of the deploy tests: Helm (pinned, from the Go module
 * proxy) and tools/k8s-check (typed Kubernetes API decoding, skaffold
 * structure), both built once per machine by scripts/go-tool.sh.
 */
export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const CHART = join(REPO, "deploy/helm/cfs");
/** The Kubernetes version charts are rendered for (Chart.yaml: >= 1.30). */
export const KUBE_VERSION = "1.34.0";
/** A first build of Helm from source takes minutes on a fresh machine. */
export const TOOL_BUILD_TIMEOUT_MS = 15 * 60_000;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(file: string, args: readonly string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { cwd: REPO, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") return reject(err);
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

async function goTool(name: string): Promise<string> {
  const { code, stdout, stderr } = await run(join(REPO, "scripts/go-tool.sh"), [name]);
  if (code !== 0) throw new Error(`scripts/go-tool.sh ${name} failed:\n${stderr}`);
  return stdout.trim();
}

export interface Tools {
  helm: string;
  k8sCheck: string;
}

/** Builds (first time) or finds both tools; one after the other, as the machine has two cores. */
export async function tools(): Promise<Tools> {
  const helm = await goTool("helm");
  const k8sCheck = await goTool("k8s-check");
  return { helm, k8sCheck };
}

/** A rendered Kubernetes object, as JSON. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [field: string]: any;
}

/** helm template of the chart with value files (relative to the chart) and extra flags. */
export async function template(t: Tools, valueFiles: readonly string[], flags: readonly string[] = []): Promise<Run> {
  return run(t.helm, [
    "template", "cfs", CHART,
    "--namespace", "cfs",
    "--kube-version", KUBE_VERSION,
    "--api-versions", "monitoring.coreos.com/v1",
    ...valueFiles.flatMap((f) => ["-f", join(CHART, f)]),
    ...flags,
  ]);
}

/** Decodes every object strictly into the Kubernetes API types and validates it (tools/k8s-check). */
export async function validateObjects(t: Tools, manifests: string): Promise<{ objects: K8sObject[]; errors: string[] }> {
  const { stdout, stderr } = await run(t.k8sCheck, ["objects"], manifests);
  if (!stdout.trim()) throw new Error(`k8s-check printed nothing: ${stderr}`);
  return JSON.parse(stdout) as { objects: K8sObject[]; errors: string[] };
}

export async function yamlToJson<T = unknown>(t: Tools, yaml: string): Promise<T[]> {
  const { code, stdout, stderr } = await run(t.k8sCheck, ["yaml2json"], yaml);
  if (code !== 0) throw new Error(`not YAML: ${stderr}`);
  return JSON.parse(stdout) as T[];
}

/** The chart's CI value sets (deploy/helm/cfs/ci/*.yaml), relative to the chart. */
export function ciValueFiles(): string[] {
  return readdirSync(join(CHART, "ci"))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => `ci/${f}`);
}
