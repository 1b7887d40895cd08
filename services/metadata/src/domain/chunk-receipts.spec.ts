import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { RECEIPT_CLOCK_SKEW_MS, RECEIPT_MAX_AGE_MS, ReceiptKey, type ReceiptChunk, type ReceiptWithChunks } from "#lib/chunk-receipts.js";
import { ReceiptCheck, type ReceiptOutcome } from "./chunk-receipts.js";

const sha = (seed: string) => createHash("sha256").update(seed).digest("hex");
const KEY = new ReceiptKey("k".repeat(40));
const NOW = 1_700_000_000_000;

function receipt(owner: string, issuedAtMs: number, chunks: ReceiptChunk[], key = KEY): ReceiptWithChunks {
  return { issuedAtMs, mac: key.macOf(owner, issuedAtMs, chunks)!, chunks };
}

function check(key: ReceiptKey | undefined) {
  const outcomes: ReceiptOutcome[] = [];
  return { outcomes, receipts: new ReceiptCheck(key, { checked: (o) => outcomes.push(o) }, () => NOW) };
}

describe("ReceiptCheck.vouchedFor", () => {
  const a = { sha256: sha("a"), size: 3 };
  const b = { sha256: sha("b"), size: 4 };

  it("vouches for the chunks of every valid, fresh receipt of the owner", () => {
    const { receipts, outcomes } = check(KEY);
    const vouched = receipts.vouchedFor("alice", [receipt("alice", NOW - 10, [a]), receipt("alice", NOW - RECEIPT_MAX_AGE_MS, [b])]);
    expect([...vouched]).toEqual([
      [a.sha256, 3],
      [b.sha256, 4],
    ]);
    expect(outcomes).toEqual(["accepted", "accepted"]);
  });

  it("ignores receipts too old, dated ahead of its clock, of another owner, another key or altered", () => {
    const { receipts, outcomes } = check(KEY);
    const altered = { ...receipt("alice", NOW, [a]), chunks: [{ ...a, size: 4 }] };
    const vouched = receipts.vouchedFor("alice", [
      receipt("alice", NOW - RECEIPT_MAX_AGE_MS - 1, [a]),
      receipt("alice", NOW + RECEIPT_CLOCK_SKEW_MS + 1, [a]),
      receipt("bob", NOW, [a]),
      receipt("alice", NOW, [a], new ReceiptKey("x".repeat(40))),
      altered,
    ]);
    expect(vouched.size).toBe(0);
    expect(outcomes).toEqual(["expired", "expired", "invalid", "invalid", "invalid"]);
  });

  it("takes a receipt dated slightly ahead (block storage's clock may lead)", () => {
    const { receipts } = check(KEY);
    expect(receipts.vouchedFor("alice", [receipt("alice", NOW + RECEIPT_CLOCK_SKEW_MS, [a])]).size).toBe(1);
  });

  it("without a key vouches for nothing and says so", () => {
    const { receipts, outcomes } = check(undefined);
    expect(receipts.vouchedFor("alice", [receipt("alice", NOW, [a])]).size).toBe(0);
    expect(outcomes).toEqual(["no_key"]);
  });
});
