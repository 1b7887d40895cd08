import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { CfsError, errorMessage } from "#lib/errors.js";
import type { CallIdentity, ServiceIdentity } from "#lib/grpc-client.js";
import { MAX_CHUNK_BYTES, MAX_HASHES_PER_CALL } from "#lib/limits.js";
import { type CatalogueInspector, type ChunkStorage, type InspectedVersion } from "../ports/peers.js";
import type { VerificationQueue } from "../ports/verification-queue.js";
import { displayName } from "#lib/display-name.js";
import { isDamageReport, isRemoval, type ClaimedEvent, type EventType, type Verification, type VerificationAction } from "./types.js";

/** A verification result before it gets its time. */
export type Result = Omit<Verification, "verifiedAt">;

/**
 * What verifying one event concluded:
 * - completed: metadata and block storage agree with the event (or a later
 *   delete made its state unobservable: action "superseded");
 * - inconsistent: a definite inconsistency, named in `message`;
 * - unsettled: something does not add up yet but may be the system still
 *   moving (an event not relayed yet, an upload in flight): retried, and an
 *   inconsistency if it persists through every attempt.
 * Errors reaching a peer are not outcomes: verify() rejects and the worker
 * retries with backoff.
 */
export type Outcome =
  | { kind: "completed"; result: Result }
  | { kind: "inconsistent"; message: string; result: Result }
  | { kind: "unsettled"; message: string; result: Result };

export interface VerifierOptions {
  /** Chunks downloaded and re-hashed per upload/update: the first plus random others. 0 disables. */
  sampleChunks: number;
  /** [0, 1), for the random sample; injectable for tests. */
  random?: () => number;
}

/** What the verifier asks of the recorded history. */
export type EventHistory = Pick<VerificationQueue, "hasLaterDelete">;

/** A finding about the data: the message names what is wrong; `settled` false means it may still resolve itself. */
class Finding {
  constructor(
    readonly message: string,
    readonly settled: boolean,
    readonly chunksVerified = 0,
    readonly totalChunks = 0,
  ) {}
}

const ACTION_OF: Record<EventType, VerificationAction> = {
  upload: "upload_synchronized",
  update: "update_synchronized",
  delete: "delete_synchronized",
  move: "move_synchronized",
  restore: "restore_synchronized",
  trash: "trash_synchronized",
  undelete: "undelete_synchronized",
  purge: "purge_synchronized",
  damaged: "healed",
};


/**
 * Checks one recorded event against the metadata service and block storage.
 * Read-only and idempotent: it never changes either (an inconsistency is
 * reported, never "fixed"), so running it twice for one event is harmless.
 */
export class Verifier {
  private readonly random: () => number;

  constructor(
    private readonly catalogue: CatalogueInspector,
    private readonly storage: ChunkStorage,
    private readonly history: EventHistory,
    private readonly options: VerifierOptions,
  ) {
    this.random = options.random ?? Math.random;
  }

  async verify(event: ClaimedEvent, as: CallIdentity): Promise<Outcome> {
    if (isRemoval(event.eventType)) return this.verifyDelete(event, as);
    const outcome = await this.verifyContent(event, as);
    return isDamageReport(event.eventType) ? namingTheFile(event, outcome) : outcome;
  }

  /**
   * Upload/update: the version exists as the event describes it, its chunk
   * list is complete and contiguous, every chunk is in block storage with
   * its size, and a sample re-hashes to its name.
   */
  private async verifyContent(event: ClaimedEvent, as: CallIdentity): Promise<Outcome> {
    const inspected = await this.catalogue.inspectFileVersion(event.owner, event.fileId, event.version, as);
    if (!inspected) return this.gone(event, `version ${event.version} of the file is not in metadata`, as);
    const finding = await this.checkContent(event, inspected, as);
    if (!finding) {
      const total = inspected.chunks.length;
      return {
        kind: "completed",
        result: {
          syncStatus: "synchronized",
          chunksVerified: total,
          totalChunks: total,
          action: ACTION_OF[event.eventType],
          chunksRehashed: Math.min(Math.max(this.options.sampleChunks, 0), total),
        },
      };
    }
    // Before calling it an inconsistency: the file may have been deleted
    // (and its chunks collected) while we were looking. Gone now means the
    // finding says nothing about this event.
    const again = await this.catalogue.inspectFileVersion(event.owner, event.fileId, event.version, as);
    if (!again) return this.gone(event, `version ${event.version} of the file is not in metadata`, as);
    return this.fromFinding(finding);
  }

  /**
   * How the event's state can be unobservable without anything being wrong:
   * a newer version (the retention pruned this one), or a later delete or
   * purge of the file (recorded after it in sync_events, which the
   * outbox fills in commit order) removed the version and its chunks. Files
   * never lose a version otherwise and a new upload of the name gets a new
   * file id, so with no later delete recorded the version is missing for
   * real, or the delete is still on its way through the outbox: unsettled,
   * retried, an inconsistency if no delete shows up.
   */
  private async gone(event: ClaimedEvent, message: string, as: CallIdentity): Promise<Outcome> {
    // Version retention prunes old versions (CFS_VERSIONS_MAX, _MAX_AGE_DAYS):
    // a newer version of the file supersedes this one.
    if ((await this.history.hasLaterDelete(event.owner, event.fileId, event.seq)) || (await this.hasNewerVersion(event, as))) {
      return {
        kind: "completed",
        result: { syncStatus: "synchronized", chunksVerified: 0, totalChunks: 0, action: "superseded", chunksRehashed: 0 },
      };
    }
    return this.fromFinding(new Finding(`${message}, and no later delete of it is recorded`, false));
  }

  private async hasNewerVersion(event: ClaimedEvent, as: CallIdentity): Promise<boolean> {
    const newest = await this.catalogue.inspectFileVersion(event.owner, event.fileId, 0, as);
    return newest !== undefined && newest.currentVersion > event.version;
  }

  private fromFinding(finding: Finding): Outcome {
    return {
      kind: finding.settled ? "inconsistent" : "unsettled",
      message: finding.message,
      result: {
        syncStatus: "inconsistent",
        chunksVerified: finding.chunksVerified,
        totalChunks: finding.totalChunks,
        action: "",
        chunksRehashed: 0,
      },
    };
  }

  private async checkContent(event: ClaimedEvent, v: InspectedVersion, as: CallIdentity): Promise<Finding | undefined> {
    const total = v.chunks.length;
    if (v.size !== event.size || v.sha256 !== event.sha256) {
      return new Finding(
        `metadata has version ${v.version} with ${v.size} bytes and sha256 ${v.sha256}, the event says ${event.size} bytes and sha256 ${event.sha256}`,
        true,
        0,
        total,
      );
    }
    const listFinding = checkChunkList(v);
    if (listFinding) return new Finding(listFinding, true, 0, total);

    const sample = sampleIndexes(total, this.options.sampleChunks, this.random);
    // When the sample is every chunk (a small file's one chunk, say), reading
    // them checks presence and size too: asking block storage first would
    // only cost another round trip to it and to the object store.
    const everyChunkRead = sample.length === total;
    let verified = 0;
    if (!everyChunkRead) {
      // Presence and size of every chunk, asking for each distinct hash once.
      const distinct = [...new Set(v.chunks.map((c) => c.sha256))];
      const stored = new Map<string, number>();
      for (let start = 0; start < distinct.length; start += MAX_HASHES_PER_CALL) {
        const sizes = await this.storage.storedSizes(event.owner, distinct.slice(start, start + MAX_HASHES_PER_CALL), as);
        for (const [hash, size] of sizes) stored.set(hash, size);
      }
      const problems: string[] = [];
      for (const chunk of v.chunks) {
        const size = stored.get(chunk.sha256);
        if (size === undefined) problems.push(`${describe(chunk)} missing from block storage`);
        else if (size !== chunk.size) problems.push(`${describe(chunk)} is stored with ${size} bytes, expected ${chunk.size}`);
        else verified += 1;
      }
      if (problems.length > 0) return new Finding(summarize(problems), true, verified, total);
    }

    // A sample downloaded and re-hashed (block storage checks on read too;
    // this also covers the bytes on their way here).
    for (const index of sample) {
      const chunk = v.chunks[index]!;
      let data: Buffer | undefined;
      try {
        data = await this.storage.read(event.owner, chunk.sha256, Math.min(chunk.size, MAX_CHUNK_BYTES), as);
      } catch (err) {
        if (err instanceof CfsError && err.kind === "data-loss") {
          return new Finding(`${describe(chunk)} is corrupt in block storage: ${err.message}`, true, verified, total);
        }
        throw err;
      }
      if (!data) return new Finding(`${describe(chunk)} missing from block storage`, true, verified, total);
      const actual = createHash("sha256").update(data).digest("hex");
      if (data.length !== chunk.size || actual !== chunk.sha256) {
        return new Finding(`${describe(chunk)} re-hashed to sha256 ${actual} (${data.length} bytes)`, true, verified, total);
      }
      if (everyChunkRead) verified += 1;
    }
    return undefined;
  }

  /**
   * Delete: the file is gone from metadata, and each chunk it used is either
   * still referenced by another of the owner's files, queued for the
   * collector, or absent from block storage.
   */
  private async verifyDelete(event: ClaimedEvent, as: CallIdentity): Promise<Outcome> {
    const hashes = [...new Set(event.chunkSha256s)];
    const still = await this.catalogue.inspectFileVersion(event.owner, event.fileId, 0, as);
    // A new upload of the name gets a new file id: this one cannot come back.
    if (still) return this.fromFinding(new Finding(`file still present in metadata (version ${still.currentVersion})`, true, 0, hashes.length));

    let verified = 0;
    const leftovers: string[] = [];
    for (let start = 0; start < hashes.length; start += MAX_HASHES_PER_CALL) {
      const batch = hashes.slice(start, start + MAX_HASHES_PER_CALL);
      // References first, then storage: a chunk queued or referenced when
      // asked is accounted for whatever the collector did since.
      const refs = await this.catalogue.chunkReferences(event.owner, batch, as);
      const stored = await this.storage.storedSizes(event.owner, batch, as);
      for (const hash of batch) {
        if (refs.referenced.has(hash) || refs.queued.has(hash) || !stored.has(hash)) verified += 1;
        else leftovers.push(`chunk sha256 ${hash} is still in block storage, but no file references it and it is not queued for collection`);
      }
    }
    if (leftovers.length > 0) {
      // An upload in flight stores chunks before it commits (then they are
      // referenced) or fails (then it releases them to the collector): a
      // leftover may settle by itself, so it is retried before it counts.
      return this.fromFinding(new Finding(summarize(leftovers), false, verified, hashes.length));
    }
    return {
      kind: "completed",
      result: { syncStatus: "synchronized", chunksVerified: verified, totalChunks: hashes.length, action: ACTION_OF[event.eventType], chunksRehashed: 0 },
    };
  }
}

/**
 * A damage report is checked like an upload of the version it names: while
 * a chunk of it is missing (quarantined) or corrupt, the event fails, and
 * its message starts with the file's name, which is how its owner knows it.
 * Whole again when verified (an upload healed it first), it completes as
 * "healed".
 */
function namingTheFile(event: ClaimedEvent, outcome: Outcome): Outcome {
  const file = `file "${displayName(event.name)}"`;
  switch (outcome.kind) {
    case "completed":
      return outcome;
    case "inconsistent":
      return { ...outcome, message: `${file} is damaged (version ${event.version}): ${outcome.message}; upload its content again to heal it` };
    case "unsettled":
      return { ...outcome, message: `${file}: ${outcome.message}` };
  }
}

/** Indexes 0..n-1 in order, offsets laid end to end, sizes adding up to the version's size. */
function checkChunkList(v: InspectedVersion): string | undefined {
  if (v.chunks.length !== v.numChunks) return `version ${v.version} lists ${v.chunks.length} chunks but records ${v.numChunks}`;
  let offset = 0;
  for (const [position, chunk] of v.chunks.entries()) {
    if (chunk.index !== position) return `the chunk list is not contiguous: position ${position} holds chunk index ${chunk.index}`;
    if (chunk.offset !== offset) return `${describe(chunk)} starts at offset ${chunk.offset}, expected ${offset}`;
    if (!Number.isInteger(chunk.size) || chunk.size < 1) return `${describe(chunk)} has an invalid size ${chunk.size}`;
    offset += chunk.size;
  }
  if (offset !== v.size) return `the chunk sizes add up to ${offset} bytes, but version ${v.version} has ${v.size}`;
  return undefined;
}

function describe(chunk: { index: number; sha256: string }): string {
  return `chunk ${chunk.index} (sha256 ${chunk.sha256})`;
}

/** The first problem, and how many more there are. */
function summarize(problems: readonly string[]): string {
  return problems.length === 1 ? problems[0]! : `${problems[0]!} (and ${problems.length - 1} more)`;
}

/** The sample to re-hash: chunk 0, then distinct random others, `count` in all (at most n). */
export function sampleIndexes(n: number, count: number, random: () => number): number[] {
  const k = Math.min(Math.max(count, 0), n);
  if (k === 0) return [];
  // A partial Fisher-Yates shuffle of 1..n-1 picks k-1 distinct others.
  const rest = Array.from({ length: n - 1 }, (_, i) => i + 1);
  const picked = [0];
  for (let i = 0; i < k - 1; i++) {
    const j = i + Math.floor(random() * (rest.length - i));
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
    picked.push(rest[i]!);
  }
  return picked;
}

/** Counters and timings of verification; implemented by the metrics export. */
export interface VerificationObserver {
  completed(eventType: EventType, action: VerificationAction, seconds: number): void;
  /** An event ended failed: an inconsistency found, or retries exhausted. */
  failed(eventType: EventType, reason: "inconsistent" | "retries_exhausted" | "interrupted"): void;
  retried(eventType: EventType): void;
}

export interface WorkerOptions {
  /** Events verified at once (and claimed per run). */
  concurrency: number;
  /** After this many attempts a still failing event fails for good. */
  maxAttempts: number;
  /** The first retry waits this long, each later one twice as long... */
  retryBaseMs: number;
  /** ...up to this. */
  maxBackoffMs: number;
}

/** The pause before attempt `attempts + 1`, after `attempts` attempts failed transiently. */
export function retryBackoffMs(options: Pick<WorkerOptions, "retryBaseMs" | "maxBackoffMs">, attempts: number): number {
  return Math.min(options.retryBaseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30), Math.max(options.maxBackoffMs, options.retryBaseMs));
}

/**
 * The background verification of recorded events. Each run claims the
 * oldest due pending events, verifies them, and moves each to completed,
 * failed, or back to pending with a later due time.
 */
export class VerificationWorker {
  constructor(
    private readonly queue: VerificationQueue,
    private readonly verifier: Verifier,
    private readonly identity: ServiceIdentity,
    private readonly observer: VerificationObserver,
    private readonly log: Logger,
    private readonly options: WorkerOptions,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Called once at start, before the first run. An event is `processing`
   * only while a worker verifies it, and this process has not started one
   * yet: any processing event was left by a process that crashed (or was
   * killed) mid-verification. Taking it again is safe because verification
   * is read-only and idempotent, and its result was never written (the
   * status moves out of processing in the same statement that stores the
   * result), so the event still completes exactly once. This assumes one
   * sync process per database file, which SQLite implies anyway.
   */
  async recover(): Promise<void> {
    const { requeued, failed } = await this.queue.recoverInterrupted(
      this.options.maxAttempts,
      `verification was interrupted ${this.options.maxAttempts} times (the sync process stopped during it)`,
      this.now(),
    );
    if (requeued > 0 || failed.length > 0) {
      this.log.warn({ requeued, failed: failed.length }, "recovered events left processing by a previous run");
    }
    for (const eventType of failed) this.observer.failed(eventType, "interrupted");
  }

  /** Verifies one batch; true when more events may be due. */
  async runOnce(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    // The identity first: when the token issuer is down nothing is claimed.
    const as = await this.identity(signal);
    const claimed = await this.queue.claimDue(this.now(), this.options.concurrency);
    if (claimed.length === 0) return false;
    await Promise.all(claimed.map((event) => this.process(event, as, signal)));
    return claimed.length === this.options.concurrency && !signal.aborted;
  }

  private async process(event: ClaimedEvent, as: CallIdentity, signal: AbortSignal): Promise<void> {
    const log = this.log.child({ eventId: event.eventId, fileId: event.fileId, eventType: event.eventType, attempt: event.attempts });
    const started = performance.now();
    let outcome: Outcome;
    try {
      outcome = await this.verifier.verify(event, as);
    } catch (err) {
      if (signal.aborted) {
        // Stopping: its calls were cancelled. Due again at once, for the next
        // process; the attempt counts, as an interruption found by recover() does.
        const at = this.now();
        if (await this.queue.retryLater(event.seq, INTERRUPTED, at, at)) log.info("verification interrupted: the sync service is stopping");
        return;
      }
      // Not a finding about the data: a peer down, a timeout, the network,
      // an unexpected answer. Verification is read-only: just try again.
      await this.retryOrGiveUp(event, errorMessage(err), undefined, log, err);
      return;
    }
    const seconds = (performance.now() - started) / 1000;
    const at = this.now();
    switch (outcome.kind) {
      case "completed":
        if (await this.queue.complete(event.seq, { ...outcome.result, verifiedAt: at }, at)) {
          this.observer.completed(event.eventType, outcome.result.action, seconds);
          log.info({ ...outcome.result, ms: Math.round(seconds * 1000) }, "event verified");
        } else {
          log.warn("event was no longer processing; result dropped");
        }
        return;
      case "inconsistent":
        if (await this.queue.fail(event.seq, outcome.message, { ...outcome.result, verifiedAt: at }, at)) {
          this.observer.failed(event.eventType, "inconsistent");
          log.error({ reason: outcome.message, ...outcome.result }, "event verification found an inconsistency");
        }
        return;
      case "unsettled":
        await this.retryOrGiveUp(event, outcome.message, outcome.result, log);
        return;
    }
  }

  private async retryOrGiveUp(event: ClaimedEvent, message: string, result: Result | undefined, log: Logger, err?: unknown): Promise<void> {
    const at = this.now();
    if (event.attempts >= this.options.maxAttempts) {
      const final = `${message} (gave up after ${event.attempts} attempts)`;
      if (await this.queue.fail(event.seq, final, result && { ...result, verifiedAt: at }, at)) {
        this.observer.failed(event.eventType, result ? "inconsistent" : "retries_exhausted");
        log.error({ err, reason: final }, "event verification failed");
      }
      return;
    }
    const delay = retryBackoffMs(this.options, event.attempts);
    if (await this.queue.retryLater(event.seq, message, new Date(at.getTime() + delay), at)) {
      this.observer.retried(event.eventType);
      log.warn({ err, reason: message, retryInMs: delay }, "event verification will be retried");
    }
  }
}

const INTERRUPTED = "verification was interrupted (the sync service stopped during it)";
