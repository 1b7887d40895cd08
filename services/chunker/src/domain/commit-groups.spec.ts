import { describe, expect, it } from "vitest";
import { CfsError } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import { MAX_BATCH_BYTES } from "#lib/limits.js";
import type { CommitRequest, FileCommits } from "../ports/file-catalogue.js";
import { GroupedCommits } from "./commit-groups.js";
import type { StoredFile } from "./types.js";

const HASH = "a".repeat(64);
const request = (name: string, extra: Partial<CommitRequest> = {}): CommitRequest => ({ name, contentType: "", size: 4096, sha256: HASH, chunks: [], ...extra });
const fileOf = (r: CommitRequest): StoredFile => ({ fileId: `id-${r.name}`, name: r.name, size: r.size, sha256: r.sha256, contentType: "", numChunks: 0, version: 1 });

interface Call {
  kind: "commit" | "commitMany";
  names: string[];
  as: CallIdentity;
  answer(outcome?: CfsError): void;
}

/**
 * A FileCommits whose calls wait until the test answers them, so the test
 * decides what is on its way while others arrive. `refuse` names files the
 * catalogue refuses (a batch holding one is refused whole).
 */
function heldCatalogue(refuse: (name: string) => CfsError | undefined = () => undefined) {
  const calls: Call[] = [];
  const arrivals: Array<() => void> = [];
  const hold = <T>(kind: Call["kind"], requests: readonly CommitRequest[], as: CallIdentity, value: () => T) =>
    new Promise<T>((resolve, reject) => {
      calls.push({
        kind,
        names: requests.map((r) => r.name),
        as,
        answer: (outcome) => {
          const refusal = outcome ?? requests.map((r) => refuse(r.name)).find((e) => e);
          if (refusal) reject(refusal);
          else resolve(value());
        },
      });
      arrivals.splice(0).forEach((wake) => wake());
    });
  const inner: FileCommits = {
    commit: (r, as) => hold("commit", [r], as, () => fileOf(r)),
    commitMany: (rs, as) => hold("commitMany", rs, as, () => rs.map(fileOf)),
    releaseChunks: async () => {},
  };
  /** The next call made to the catalogue (the n-th, counting from 0). */
  const call = async (n: number): Promise<Call> => {
    while (calls.length <= n) await new Promise<void>((wake) => arrivals.push(wake));
    return calls[n]!;
  };
  return { inner, calls, call };
}

type Outcome<T> = { value: T; error?: undefined } | { value?: undefined; error: unknown };
const outcome = <T>(p: Promise<T>): Promise<Outcome<T>> => p.then((value) => ({ value }), (error: unknown) => ({ error }));
const kindOf = (r: Outcome<unknown>) => (r.error instanceof CfsError ? r.error.kind : r.error);

describe("GroupedCommits", () => {
  it("sends a commit with nothing on its way at once, alone", async () => {
    const c = heldCatalogue();
    const grouped = new GroupedCommits(c.inner);
    const done = grouped.commit(request("a"), { token: "t" });
    const first = await c.call(0);
    expect(first).toMatchObject({ kind: "commit", names: ["a"] });
    first.answer();
    expect(await done).toMatchObject({ name: "a" });
    // The lane closed: the next commit goes at once too.
    const again = grouped.commit(request("b"), { token: "t" });
    (await c.call(1)).answer();
    expect(await again).toMatchObject({ name: "b" });
    expect(c.calls.map((x) => x.kind)).toEqual(["commit", "commit"]);
  });

  it("sends the commits that arrived while one was on its way as one batch, each caller getting its own file", async () => {
    const c = heldCatalogue();
    const grouped = new GroupedCommits(c.inner);
    const first = grouped.commit(request("a"), { token: "t" });
    const rest = ["b", "c", "d"].map((n) => grouped.commit(request(n), { token: "t", requestId: `r-${n}` }));
    const lead = await c.call(0);
    expect(c.calls).toHaveLength(1);
    lead.answer();
    const batch = await c.call(1);
    expect(batch).toMatchObject({ kind: "commitMany", names: ["b", "c", "d"] });
    expect(batch.as).toEqual({ token: "t", requestId: "r-b" });
    batch.answer();
    expect((await first).name).toBe("a");
    expect((await Promise.all(rest)).map((f) => f.fileId)).toEqual(["id-b", "id-c", "id-d"]);
  });

  it("groups only commits of one token: another token's commit does not wait", async () => {
    const c = heldCatalogue();
    const grouped = new GroupedCommits(c.inner);
    void grouped.commit(request("a"), { token: "alice" });
    const bob = grouped.commit(request("a"), { token: "bob" });
    await c.call(1);
    expect(c.calls.map((x) => [x.kind, x.as.token])).toEqual([
      ["commit", "alice"],
      ["commit", "bob"],
    ]);
    c.calls.forEach((x) => x.answer());
    expect((await bob).name).toBe("a");
  });

  it("keeps a second version of a name, or a key used twice, for the next group, in order", async () => {
    const c = heldCatalogue();
    const grouped = new GroupedCommits(c.inner);
    void grouped.commit(request("lead"), { token: "t" });
    const answers = [request("x"), request("x", { size: 1 }), request("y", { idempotencyKey: "k" }), request("z", { idempotencyKey: "k" }), request("w")].map((r) =>
      grouped.commit(r, { token: "t" }),
    );
    (await c.call(0)).answer();
    const firstGroup = await c.call(1);
    // The second "x" and "z" (y's key again) cannot share a transaction with them.
    expect(firstGroup.names).toEqual(["x", "y", "w"]);
    firstGroup.answer();
    const secondGroup = await c.call(2);
    expect(secondGroup).toMatchObject({ kind: "commitMany", names: ["x", "z"] });
    secondGroup.answer();
    expect((await Promise.all(answers)).map((f) => f.size)).toEqual([4096, 1, 4096, 4096, 4096]);
  });

  it("retries a refused group file by file, so only the refused file fails", async () => {
    const overQuota = new CfsError("resource-exhausted", "over quota");
    const c = heldCatalogue((name) => (name === "big" ? overQuota : undefined));
    const grouped = new GroupedCommits(c.inner);
    void grouped.commit(request("lead"), { token: "t" });
    const answers = ["a", "big", "c"].map((n) => outcome(grouped.commit(request(n), { token: "t" })));
    (await c.call(0)).answer();
    const group = await c.call(1);
    expect(group.kind).toBe("commitMany");
    group.answer();
    const alone = await Promise.all([2, 3, 4].map((n) => c.call(n)));
    expect(alone.map((x) => [x.kind, x.names[0]])).toEqual([
      ["commit", "a"],
      ["commit", "big"],
      ["commit", "c"],
    ]);
    alone.forEach((x) => x.answer());
    const [a, big, cc] = (await Promise.all(answers)) as [Outcome<StoredFile>, Outcome<StoredFile>, Outcome<StoredFile>];
    expect(a).toEqual({ value: expect.objectContaining({ name: "a" }) });
    expect(kindOf(big)).toBe("resource-exhausted");
    expect(cc).toEqual({ value: expect.objectContaining({ name: "c" }) });
  });

  it("does not retry a group that failed in a way that may have committed it (unavailable): every caller gets that failure", async () => {
    const c = heldCatalogue();
    const grouped = new GroupedCommits(c.inner);
    void grouped.commit(request("lead"), { token: "t" });
    const answers = ["a", "b"].map((n) => outcome(grouped.commit(request(n), { token: "t" })));
    (await c.call(0)).answer();
    (await c.call(1)).answer(new CfsError("unavailable", "metadata went away"));
    expect((await Promise.all(answers)).map(kindOf)).toEqual(["unavailable", "unavailable"]);
    expect(c.calls).toHaveLength(2);
  });

  it("drops a caller that cancels while waiting, and sends the others without its file", async () => {
    const c = heldCatalogue();
    const grouped = new GroupedCommits(c.inner);
    void grouped.commit(request("lead"), { token: "t" });
    const leaving = new AbortController();
    const gone = outcome(grouped.commit(request("gone"), { token: "t", signal: leaving.signal }));
    const stays = grouped.commit(request("stays"), { token: "t" });
    leaving.abort();
    expect(kindOf(await gone)).toBe("cancelled");
    (await c.call(0)).answer();
    const next = await c.call(1);
    expect(next).toMatchObject({ kind: "commit", names: ["stays"] });
    next.answer();
    expect((await stays).name).toBe("stays");
  });

  it("gives the group the latest deadline of its callers, and no caller's signal", async () => {
    const c = heldCatalogue();
    const grouped = new GroupedCommits(c.inner);
    void grouped.commit(request("lead"), { token: "t" });
    const soon = new Date(Date.now() + 1_000);
    const later = new Date(Date.now() + 60_000);
    void grouped.commit(request("a"), { token: "t", deadline: soon, signal: new AbortController().signal });
    void grouped.commit(request("b"), { token: "t", deadline: later });
    (await c.call(0)).answer();
    const group = await c.call(1);
    expect(group.as.deadline).toEqual(later);
    expect(group.as.signal).toBeUndefined();
    group.answer();
  });

  it("never holds a file larger than a batch behind others", async () => {
    const c = heldCatalogue();
    const grouped = new GroupedCommits(c.inner);
    void grouped.commit(request("lead"), { token: "t" });
    void grouped.commit(request("huge", { size: MAX_BATCH_BYTES + 1 }), { token: "t" });
    await c.call(1);
    expect(c.calls.map((x) => [x.kind, x.names[0]])).toEqual([
      ["commit", "lead"],
      ["commit", "huge"],
    ]);
  });
});
