import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * Where the services' CPU time went: sums the self time of every function
 * over the `.cpuprofile` files that `node --cpu-prof` wrote (one folder per
 * service, as make bench's CFS_BENCH_PROFILE=1 lays them out), and prints
 * the top entries per service, idle and garbage collection included.
 *
 *   npx tsx bench/profile-summary.ts <folder> [how many, default 25]
 *
 * A profile lists call-tree nodes, the node each sample hit (`samples`) and
 * the microseconds before each sample (`timeDeltas`); a sample's self time
 * is the gap to the next one, as Chrome DevTools counts it.
 */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

function functionKey(frame: CpuProfile["nodes"][number]["callFrame"]): string {
  const name = frame.functionName || "(anonymous)";
  if (!frame.url) return name; // (garbage collector), (idle), (program), (root)
  const path = frame.url.startsWith("file://") ? relative(REPO_ROOT, fileURLToPath(frame.url)) : frame.url;
  return `${name}  ${path}:${frame.lineNumber + 1}`;
}

/** Self microseconds by function over all profiles of one folder. */
function selfTimes(profiles: CpuProfile[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const profile of profiles) {
    const keys = new Map(profile.nodes.map((node) => [node.id, functionKey(node.callFrame)]));
    profile.samples.forEach((nodeId, i) => {
      const key = keys.get(nodeId) ?? "(unknown)";
      totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
    });
  }
  return totals;
}

async function profilesIn(folder: string): Promise<CpuProfile[]> {
  const names = (await readdir(folder)).filter((name) => name.endsWith(".cpuprofile"));
  return Promise.all(names.map(async (name) => JSON.parse(await readFile(join(folder, name), "utf8")) as CpuProfile));
}

export async function printProfileSummary(root: string, top: number): Promise<void> {
  const entries = await readdir(root, { withFileTypes: true });
  const folders = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  // A folder of profiles itself, or one folder per service.
  const targets = folders.length > 0 ? folders.map((name) => ({ name, folder: join(root, name) })) : [{ name: root, folder: root }];
  for (const { name, folder } of targets.sort((a, b) => a.name.localeCompare(b.name))) {
    const profiles = await profilesIn(folder);
    const totals = selfTimes(profiles);
    const sampled = [...totals.values()].reduce((a, b) => a + b, 0);
    if (sampled === 0) {
      process.stdout.write(`\n${name}: no samples (a service killed before exit writes no profile)\n`);
      continue;
    }
    const idle = totals.get("(idle)") ?? 0;
    process.stdout.write(
      `\n${name}: ${profiles.length} profile(s), ${(sampled / 1e6).toFixed(1)} s sampled, ${((100 * idle) / sampled).toFixed(0)} % idle; ` +
        `% of the busy time\n    self s   busy %   function\n`,
    );
    const busy = sampled - idle;
    for (const [key, micros] of [...totals.entries()].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`  ${(micros / 1e6).toFixed(2).padStart(8)}  ${((100 * micros) / busy).toFixed(1).padStart(6)} %   ${key}\n`);
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [folder, top] = process.argv.slice(2);
  if (!folder) {
    process.stderr.write("usage: npx tsx bench/profile-summary.ts <folder of .cpuprofile files, or of one folder per service> [top]\n");
    process.exit(2);
  }
  await printProfileSummary(folder, Number(top ?? 25));
}
