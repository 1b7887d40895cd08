import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RECEIPT_MAX_CHUNKS, ReceiptKey, loadReceiptKey, type ReceiptChunk } from "./chunk-receipts.js";

const sha = (seed: string) => createHash("sha256").update(seed).digest("hex");
const KEY = new ReceiptKey("k".repeat(32));
const chunks: ReceiptChunk[] = [
  { sha256: sha("a"), size: 10 },
  { sha256: sha("b"), size: 20 },
];

function issue(key: ReceiptKey, owner: string, at: number, list: readonly ReceiptChunk[]) {
  return { issuedAtMs: at, mac: key.macOf(owner, at, list)! };
}

describe("ReceiptKey", () => {
  it("verifies what it issued, for exactly that owner, time and chunk list", () => {
    const receipt = issue(KEY, "alice", 1_000, chunks);
    expect(KEY.verifies("alice", chunks, receipt)).toBe(true);

    expect(KEY.verifies("bob", chunks, receipt)).toBe(false);
    expect(KEY.verifies("alice", chunks, { ...receipt, issuedAtMs: 1_001 })).toBe(false);
    expect(KEY.verifies("alice", [chunks[0]!], receipt)).toBe(false);
    expect(KEY.verifies("alice", [...chunks].reverse(), receipt)).toBe(false);
    expect(KEY.verifies("alice", [chunks[0]!, { ...chunks[1]!, size: 21 }], receipt)).toBe(false);
    expect(KEY.verifies("alice", [...chunks, { sha256: sha("c"), size: 1 }], receipt)).toBe(false);
    expect(new ReceiptKey("q".repeat(32)).verifies("alice", chunks, receipt)).toBe(false);
    const flipped = Buffer.from(receipt.mac);
    flipped[0]! ^= 1;
    expect(KEY.verifies("alice", chunks, { ...receipt, mac: flipped })).toBe(false);
    expect(KEY.verifies("alice", chunks, { ...receipt, mac: receipt.mac.subarray(0, 16) })).toBe(false);
  });

  it("binds the owner exactly: a subject holding a newline and digits does not pass for another", () => {
    const a = issue(KEY, "alice\n1000", 5, chunks);
    expect(KEY.verifies("alice", chunks, { ...a, issuedAtMs: 1000 })).toBe(false);
  });

  it("refuses malformed entries and lists it would not have issued", () => {
    const bad = [{ sha256: `${sha("a")} 10\n${sha("b")}`, size: 20 }];
    expect(KEY.verifies("alice", bad, issue(KEY, "alice", 1, bad))).toBe(false);
    expect(KEY.verifies("alice", [], { issuedAtMs: 1, mac: Buffer.alloc(32) })).toBe(false);
    expect(KEY.verifies("alice", chunks, { issuedAtMs: 1.5, mac: Buffer.alloc(32) })).toBe(false);
  });

  it("builds the same MAC chunk by chunk as for the whole list", () => {
    const mac = KEY.begin("alice", 9);
    for (const c of chunks) mac.add(c);
    expect(mac.digest()).toEqual(KEY.macOf("alice", 9, chunks));
  });

  it("issues no receipt for a stream of no chunk or of more than RECEIPT_MAX_CHUNKS", () => {
    expect(KEY.begin("alice", 1).digest()).toBeUndefined();
    const many = Array.from({ length: RECEIPT_MAX_CHUNKS + 1 }, (_, i) => ({ sha256: sha(`c${i}`), size: 1 }));
    expect(KEY.macOf("alice", 1, many)).toBeUndefined();
    expect(KEY.verifies("alice", many.slice(0, RECEIPT_MAX_CHUNKS), issue(KEY, "alice", 1, many.slice(0, RECEIPT_MAX_CHUNKS)))).toBe(true);
  });

  it("refuses a key shorter than 32 bytes", () => {
    expect(() => new ReceiptKey("short")).toThrow(/at least 32 bytes/);
  });

  it("loads a key from a file, its trailing newline dropped, and none when no file is named", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cfs-receipt-"));
    await writeFile(join(dir, "key"), `${"k".repeat(32)}\n`);
    const loaded = (await loadReceiptKey(join(dir, "key")))!;
    expect(loaded.verifies("alice", chunks, issue(KEY, "alice", 7, chunks))).toBe(true);
    expect(await loadReceiptKey(undefined)).toBeUndefined();
  });
});
