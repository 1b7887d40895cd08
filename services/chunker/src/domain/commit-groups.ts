import { BatchRules } from "#lib/batch-rules.js";
import { CfsError, cancelled, type ErrorKind } from "#lib/errors.js";
import { normalizeName } from "#lib/file-names.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { CommitRequest, FileCommits } from "../ports/file-catalogue.js";
import type { StoredFile } from "./types.js";

/**
 * Refusals of a CommitFileVersions: metadata checked the batch and
 * committed none of it, so each file can be committed again on its own to
 * get its own answer. Any other failure (unavailable, a deadline, an
 * internal error) may have come after the commit, and is every file's.
 */
const REFUSALS = new Set<ErrorKind>([
  "invalid-argument",
  "not-found",
  "already-exists",
  "permission-denied",
  "failed-precondition",
  "out-of-range",
  "resource-exhausted",
]);

interface Waiting {
  request: CommitRequest;
  as: CallIdentity;
  resolve(file: StoredFile): void;
  reject(err: unknown): void;
  /** Stops watching the caller's signal. */
  settle(): void;
}

/**
 * Group commit for single-file uploads. A commit made while another one with
 * the same token is on its way to metadata waits for it, and every commit
 * that waited goes together as one CommitFileVersions: one transaction (one
 * fsync), one presence check in block storage, one call, instead of one each.
 * A commit with nothing ahead of it goes at once, so an idle stack waits for
 * nothing. Only commits of the same token share a call (it is made with
 * that token, which is every caller's own authority), and a group follows
 * the rules of a batch (lib/batch-rules.ts: no name or key twice, the byte
 * and file limits); what does not fit waits for the next group.
 *
 * A group is all or none. When metadata refuses it (a file over the quota,
 * a chunk collected meanwhile), nothing was committed and each file is
 * committed alone, so each caller gets the answer its own commit would have
 * had. A caller that cancels while waiting is dropped before its group goes.
 */
export class GroupedCommits implements FileCommits {
  /** Per token with a commit on its way: the commits waiting for it, in arrival order. */
  private readonly lanes = new Map<string, Waiting[]>();

  constructor(private readonly inner: FileCommits) {}

  commit(request: CommitRequest, as: CallIdentity): Promise<StoredFile> {
    // A file too large for any batch (more than MAX_BATCH_BYTES) is never grouped, nor waited behind.
    if (!fits(new BatchRules(), request)) return this.inner.commit(request, as);
    const lane = this.lanes.get(as.token);
    if (lane) return this.wait(lane, request, as);
    const fresh: Waiting[] = [];
    this.lanes.set(as.token, fresh);
    const alone = this.inner.commit(request, as);
    const next = () => this.next(as.token, fresh);
    alone.then(next, next);
    return alone;
  }

  commitMany(requests: readonly CommitRequest[], as: CallIdentity): Promise<StoredFile[]> {
    return this.inner.commitMany(requests, as);
  }

  releaseChunks(sha256s: readonly string[], as: CallIdentity): Promise<void> {
    return this.inner.releaseChunks(sha256s, as);
  }

  private wait(lane: Waiting[], request: CommitRequest, as: CallIdentity): Promise<StoredFile> {
    return new Promise<StoredFile>((resolve, reject) => {
      const { signal } = as;
      if (signal?.aborted) {
        reject(cancelled("the upload was cancelled"));
        return;
      }
      const onAbort = () => {
        const at = lane.indexOf(waiting);
        if (at >= 0) lane.splice(at, 1);
        reject(cancelled("the upload was cancelled"));
      };
      const waiting: Waiting = {
        request,
        as,
        resolve,
        reject,
        settle: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      lane.push(waiting);
    });
  }

  /** Sends the next group of the lane, or closes the lane when nobody waits. */
  private next(token: string, lane: Waiting[]): void {
    const group = takeGroup(lane);
    if (group.length === 0) {
      this.lanes.delete(token);
      return;
    }
    for (const w of group) w.settle();
    void this.send(group).finally(() => this.next(token, lane));
  }

  private async send(group: readonly Waiting[]): Promise<void> {
    if (group.length === 1) {
      const [only] = group as [Waiting];
      await this.inner.commit(only.request, only.as).then(only.resolve, only.reject);
      return;
    }
    let files: StoredFile[];
    try {
      files = await this.inner.commitMany(
        group.map((w) => w.request),
        groupIdentity(group),
      );
    } catch (err) {
      if (!(err instanceof CfsError && REFUSALS.has(err.kind))) {
        for (const w of group) w.reject(err);
        return;
      }
      // Nothing of the group was committed: each file on its own, for its own answer.
      await Promise.all(group.map((w) => this.inner.commit(w.request, w.as).then(w.resolve, w.reject)));
      return;
    }
    group.forEach((w, i) => w.resolve(files[i]!));
  }
}

/**
 * The waiting commits that make a batch together, taken out of `waiting` in
 * order; one that does not fit with those before it (a name or key already
 * in the group, the limits) stays for the next group. The first always fits
 * (commit() lets only files that fit a batch alone wait).
 */
function takeGroup(waiting: Waiting[]): Waiting[] {
  const rules = new BatchRules();
  const group: Waiting[] = [];
  const left: Waiting[] = [];
  for (const w of waiting) (fits(rules, w.request) ? group : left).push(w);
  waiting.splice(0, waiting.length, ...left);
  return group;
}

/**
 * Whether `request` can join the batch `rules` counted so far (and if so,
 * counts it in). A name metadata would refuse fits no group: that commit
 * goes alone, for its own refusal.
 */
function fits(rules: BatchRules, request: CommitRequest): boolean {
  try {
    rules.admit({ name: normalizeName(request.name), size: request.size, idempotencyKey: request.idempotencyKey });
    return true;
  } catch {
    return false;
  }
}

/**
 * The group's call: the callers' shared token, the first one's request id
 * (metadata logs the group under it), the latest of their deadlines (none
 * if one has none; the client caps it), so no caller's short deadline fails
 * the others, and no caller's signal (one caller giving up must not cancel
 * the others' commit).
 */
function groupIdentity(group: readonly Waiting[]): CallIdentity {
  const first = group[0]!.as;
  const identity: CallIdentity = { token: first.token };
  if (first.requestId !== undefined) identity.requestId = first.requestId;
  const deadlines = group.map((w) => w.as.deadline?.getTime());
  if (deadlines.every((d) => d !== undefined)) identity.deadline = new Date(Math.max(...deadlines));
  return identity;
}
