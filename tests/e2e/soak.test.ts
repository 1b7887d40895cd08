import { describe, expect, it } from "vitest";
import { runSoak } from "../soak/soak.js";

// The short form of make soak in make test: the same chaos and checks, for
// CFS_SOAK_TEST_SECONDS (default 45) instead of CFS_SOAK_SECONDS.
describe("crash soak (short)", () => {
  it("loses nothing, lists no partial file, resurrects no delete, leaves no orphan, finds every flipped chunk, and feeds every operation once", async () => {
    const lines: string[] = [];
    const checks = await runSoak({ seconds: Number(process.env.CFS_SOAK_TEST_SECONDS ?? 45), log: (l) => lines.push(l) });
    const failed = checks.filter((c) => !c.passed);
    expect(failed, `${failed.map((c) => `${c.name}: ${c.detail}`).join("\n")}\n--- soak log ---\n${lines.join("\n")}`).toEqual([]);
  }, 600_000);
});
