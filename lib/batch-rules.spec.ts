import { describe, expect, it } from "vitest";
import { BatchRules } from "./batch-rules.js";
import { MAX_BATCH_BYTES, MAX_FILES_PER_BATCH } from "./limits.js";

const refusal = (rules: BatchRules, file: Parameters<BatchRules["admit"]>[0]) => {
  try {
    rules.admit(file);
  } catch (err) {
    return (err as Error & { kind: string }).kind + ": " + (err as Error).message;
  }
  return undefined;
};

describe("BatchRules", () => {
  it("refuses a name or an idempotency key twice, naming the earlier file; files without keys do not collide", () => {
    const rules = new BatchRules();
    rules.admit({ name: "a", size: 1, idempotencyKey: "k" });
    rules.admit({ name: "b", size: 1 });
    rules.admit({ name: "c", size: 1 });
    expect(refusal(rules, { name: "a", size: 1 })).toBe('invalid-argument: name "a" is also the name of files[0]');
    expect(refusal(rules, { name: "d", size: 1, idempotencyKey: "k" })).toBe('invalid-argument: idempotency_key "k" is also that of files[0]');
  });

  it("counts nothing of a refused file: what it would have taken stays free", () => {
    const rules = new BatchRules();
    rules.admit({ name: "a", size: MAX_BATCH_BYTES - 10 });
    expect(refusal(rules, { name: "b", size: 11, idempotencyKey: "k" })).toMatch(/more than \d+ bytes/);
    // Neither b's name, nor its key, nor its bytes were counted.
    rules.admit({ name: "b", size: 10, idempotencyKey: "k" });
    expect(refusal(rules, { name: "c", size: 1 })).toMatch(/more than \d+ bytes/);
    rules.admit({ name: "c", size: 0 });
  });

  it("holds a batch to MAX_FILES_PER_BATCH files", () => {
    const rules = new BatchRules();
    for (let i = 0; i < MAX_FILES_PER_BATCH; i++) rules.admit({ name: `f${i}`, size: 0 });
    expect(refusal(rules, { name: "one more", size: 0 })).toBe(`invalid-argument: a batch carries at most ${MAX_FILES_PER_BATCH} files`);
  });
});
