import { describe, expect, it } from "vitest";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { DamagedFile, DamageLedger, QuarantinedChunk, QuarantineListing } from "../ports/damage-ledger.js";
import { DamageReporter } from "./damage-reports.js";

const key = (n: number) => n.toString(16).padStart(64, "0");
const hash = (n: number) => `f${n.toString(16).padStart(63, "0")}`;
const at = (ms: number) => new Date(ms);
const as: CallIdentity = { token: "service", requestId: "r" };

/** Block storage's quarantine in memory, in its order. */
class FakeQuarantine implements QuarantineListing {
  readonly chunks: QuarantinedChunk[] = [];
  readonly asked: QuarantinedChunk[] = [];

  async listQuarantined(after: QuarantinedChunk, limit: number): Promise<QuarantinedChunk[]> {
    this.asked.push(after);
    const later = (c: QuarantinedChunk) =>
      c.quarantinedAt.getTime() > after.quarantinedAt.getTime() ||
      (c.quarantinedAt.getTime() === after.quarantinedAt.getTime() && c.ownerKey + c.sha256 > after.ownerKey + after.sha256);
    return this.chunks.filter(later).slice(0, limit);
  }
}

/** The catalogue's side in memory: reports are remembered, files by owner and chunk. */
class FakeLedger implements DamageLedger {
  readonly owners = new Map<string, string>();
  readonly files = new Map<string, DamagedFile[]>();
  readonly reported = new Map<string, QuarantinedChunk>();
  ownerLookups = 0;

  async ownersOf(ownerKeys: readonly string[]): Promise<Map<string, string>> {
    this.ownerLookups += ownerKeys.length;
    return new Map(ownerKeys.flatMap((k) => (this.owners.has(k) ? [[k, this.owners.get(k)!] as const] : [])));
  }

  async latestReported(): Promise<Date | undefined> {
    const times = [...this.reported.values()].map((c) => c.quarantinedAt.getTime());
    return times.length === 0 ? undefined : at(Math.max(...times));
  }

  async report(chunk: QuarantinedChunk, owner: string | undefined): Promise<DamagedFile[] | undefined> {
    const id = `${chunk.quarantinedAt.getTime()}/${chunk.ownerKey}/${chunk.sha256}`;
    if (this.reported.has(id)) return undefined;
    this.reported.set(id, chunk);
    return owner === undefined ? [] : (this.files.get(`${owner}/${chunk.sha256}`) ?? []);
  }
}

function setup(pageSize = 2) {
  const quarantine = new FakeQuarantine();
  const ledger = new FakeLedger();
  const reports: Array<{ chunk: string; owner: string | undefined; files: string[] }> = [];
  const reporter = new DamageReporter(quarantine, ledger, async () => as, { pageSize, lookBackMs: 1000 }, {
    reported: (chunk, owner, files) => reports.push({ chunk: chunk.sha256, owner, files: files.map((f) => f.name) }),
  });
  return { quarantine, ledger, reports, reporter, signal: new AbortController().signal };
}

describe("DamageReporter", () => {
  it("reports every quarantined chunk once, a page at a time, with the files of its owner", async () => {
    const { quarantine, ledger, reports, reporter, signal } = setup();
    ledger.owners.set(key(1), "alice");
    ledger.files.set(`alice/${hash(1)}`, [{ fileId: "f1", name: "a.txt", version: 2 }]);
    quarantine.chunks.push(
      { quarantinedAt: at(10_000), ownerKey: key(1), sha256: hash(1) },
      { quarantinedAt: at(10_000), ownerKey: key(1), sha256: hash(2) },
      { quarantinedAt: at(11_000), ownerKey: key(9), sha256: hash(3) },
    );
    expect(await reporter.reportOnce(signal)).toBe(false);
    expect(reports).toEqual([
      { chunk: hash(1), owner: "alice", files: ["a.txt"] },
      { chunk: hash(2), owner: "alice", files: [] },
      { chunk: hash(3), owner: undefined, files: [] },
    ]);
    // From the start, then after each full page.
    expect(quarantine.asked.map((a) => [a.quarantinedAt.getTime(), a.sha256])).toEqual([
      [0, ""],
      [10_000, hash(2)],
    ]);
    // An owner looked up once per run, however many of its chunks.
    expect(ledger.ownerLookups).toBe(2);
  });

  it("reads again from a little before the newest quarantine reported, and reports only what is new, a late one included", async () => {
    const { quarantine, reports, reporter, signal } = setup();
    quarantine.chunks.push({ quarantinedAt: at(50_000), ownerKey: key(1), sha256: hash(1) });
    await reporter.reportOnce(signal);
    reports.length = 0;
    // Became visible after the first run, though quarantined (by another replica's clock) a little earlier.
    quarantine.chunks.unshift({ quarantinedAt: at(49_500), ownerKey: key(2), sha256: hash(2) });
    quarantine.chunks.push({ quarantinedAt: at(60_000), ownerKey: key(1), sha256: hash(3) });
    await reporter.reportOnce(signal);
    expect(quarantine.asked[1]).toEqual({ quarantinedAt: at(49_000), ownerKey: "", sha256: "" });
    expect(reports.map((r) => r.chunk)).toEqual([hash(2), hash(3)]);
    await reporter.reportOnce(signal);
    expect(reports).toHaveLength(2);
  });

  it("stops between pages once aborted", async () => {
    const { quarantine, reports, reporter } = setup(1);
    quarantine.chunks.push({ quarantinedAt: at(1), ownerKey: key(1), sha256: hash(1) }, { quarantinedAt: at(2), ownerKey: key(1), sha256: hash(2) });
    const abort = new AbortController();
    const original = quarantine.listQuarantined.bind(quarantine);
    quarantine.listQuarantined = async (after, limit) => {
      const page = await original(after, limit);
      abort.abort();
      return page;
    };
    await reporter.reportOnce(abort.signal);
    expect(reports.map((r) => r.chunk)).toEqual([hash(1)]);
  });
});
