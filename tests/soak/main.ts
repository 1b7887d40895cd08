import { runSoak } from "./soak.js";

/**
 * `make soak`: the crash soak for CFS_SOAK_SECONDS (default 300); one line
 * per check, the last one "N passed, M failed"; exit status 1 if any failed.
 */
async function main(): Promise<number> {
  const raw = process.env.CFS_SOAK_SECONDS ?? "300";
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 20) throw new Error(`CFS_SOAK_SECONDS must be an integer of at least 20, got "${raw}"`);
  const checks = await runSoak({ seconds });
  for (const c of checks) process.stdout.write(`${c.passed ? "PASS" : "FAIL"}  ${c.name}: ${c.detail}\n`);
  const failed = checks.filter((c) => !c.passed).length;
  process.stdout.write(`${checks.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
