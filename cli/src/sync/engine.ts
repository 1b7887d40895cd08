import { randomBytes } from "node:crypto";
import { existsSync, watch, type FSWatcher } from "node:fs";
import { lstat, mkdir, rename, rm, rmdir } from "node:fs/promises";
import { join, posix, relative, sep } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { File } from "#gen/cfs/metadata/v1/metadata.js";
import { EventType, type Change, type WatchChangesResponse } from "#gen/cfs/sync/v1/sync.js";
import { isServiceError } from "#lib/errors.js";
import { deleteFile, listFiles, moveFile } from "../catalogue.js";
import { CliError, describeFailure, ExitCode } from "../errors.js";
import { get } from "../get.js";
import { formatBytes } from "#lib/bytes.js";
import { displayName } from "#lib/display-name.js";
import { noProgress } from "../progress.js";
import { put, putBatch } from "../put.js";
import { deltaDownload } from "../transfer/delta-download.js";
import { UploadState } from "../transfer/upload-state.js";
import type { Connection } from "../rpc.js";
import { followChanges, headCursor, type FeedHandlers } from "./feed.js";
import { isSyncablePath, localPath, STATE_DIR } from "./paths.js";
import { batches, type UploadAction } from "./batches.js";
import { findMoves, plan, planPath, type Action, type LocalFile, type Move, type PathState, type RemoteFile } from "./planner.js";
import { scanFolder, scanOne } from "./scan.js";
import { saveState, stateDir, type SyncState } from "./state.js";

export interface SyncOptions {
  /** The folder, absolute. */
  root: string;
  /** Full pass every rescanMs while following. */
  rescanMs: number;
  /** Quiet time after a local change before the folder is looked at. */
  debounceMs?: number;
  /** A file modified more recently than this is still being written: it waits. */
  settleMs?: number;
  /** Progress lines (stdout). */
  out: (line: string) => void;
  /** Warnings and per-file failures (stderr). */
  warn: (line: string) => void;
}

/** A file that changed while it was being synced: the next pass takes it again. */
class ChangedMeanwhile extends Error {}

/** Failures no retry can fix: stop instead of reporting them per file. */
const FATAL = new Set<number>([GrpcStatus.UNAUTHENTICATED, GrpcStatus.PERMISSION_DENIED]);
/** How soon a pass that had failures is tried again while following. */
const RETRY_MS = 10_000;

function toRemote(file: File): RemoteFile {
  return { fileId: file.fileId, version: file.version, size: file.size, sha256: file.sha256 };
}

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

async function lstatOrUndefined(path: string) {
  return lstat(path).catch((err: unknown) => {
    if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return undefined;
    throw err;
  });
}

/**
 * Mirrors one folder with the user's files. All work runs one task at a time
 * (a promise chain): full passes, local passes after folder events, and
 * batches of feed changes never interleave, so each plans against the state
 * the previous one left.
 */
export class SyncEngine {
  /** The remote side as last seen: the listing, updated by feed changes and our own uploads. */
  private remote = new Map<string, RemoteFile>();
  private queue: Promise<void> = Promise.resolve();
  private firstFailure: unknown;
  private fatal: ((err: unknown) => void) | undefined;
  /** Following changes (not --once): failed passes are retried, busy files wait. */
  private following = false;
  private dirty = false;
  private lastSave = 0;
  private readonly warned = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly scheduled = new Set<string>();

  // Feed state: changes received and not applied yet, and the cursor of the newest message.
  private readonly pending = new Map<string, Change>();
  private latestCursor: string;
  private needsHead: boolean;
  /** Chunk lists of files uploaded before and sessions of unfinished uploads, beside the sync state. */
  private readonly uploads: UploadState;

  constructor(
    private readonly conn: Connection,
    private readonly state: SyncState,
    private readonly options: SyncOptions,
  ) {
    this.latestCursor = state.cursor;
    this.needsHead = state.cursor === "";
    this.uploads = new UploadState(join(stateDir(options.root), "uploads"));
  }

  private get root(): string {
    return this.options.root;
  }

  /** One full pass, then exit: the exit code tells whether every file made it. */
  async runOnce(): Promise<void> {
    let cursor: string | undefined;
    if (this.state.cursor === "") {
      // Taken before listing, so a later `cfs sync` replays whatever the listing missed.
      cursor = await headCursor(this.conn).catch((err: unknown) => {
        if (isServiceError(err) && FATAL.has(err.code)) throw err;
        this.options.warn(`cfs sync: no change feed cursor (${describeFailure(err).message}); a later cfs sync starts with a full pass`);
        return undefined;
      });
    }
    await this.fullPass();
    if (this.conn.signal.aborted) throw new CliError(ExitCode.interrupted, "interrupted");
    if (cursor !== undefined) {
      this.state.cursor = cursor;
      this.dirty = true;
    }
    await this.persist(true);
    if (this.firstFailure !== undefined) throw this.firstFailure;
  }

  /** A full pass, then follows remote changes and the folder until the signal aborts. */
  async runForever(): Promise<void> {
    const signal = this.conn.signal;
    this.following = true;
    const fatal = new Promise<never>((_, reject) => (this.fatal = reject));
    fatal.catch(() => undefined);
    const stopped = new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    // Ends following when this returns, also after a fatal error (no Ctrl-C then).
    const halt = new AbortController();
    let watcher: FSWatcher | undefined;
    let rescan: NodeJS.Timeout | undefined;
    try {
      // Local changes made while stopped, and remote ones, right away (also when
      // the sync service is down). Without a saved cursor, the feed's first
      // message (its head) triggers another full pass that the cursor follows.
      if (!this.needsHead) this.options.out("resuming the change feed from the saved cursor");
      this.enqueue("full pass", () => this.fullPass());
      watcher = this.watchFolder();
      rescan = setInterval(() => this.schedule("full pass", 0, () => this.fullPass()), this.options.rescanMs);
      const handlers: FeedHandlers = {
        cursor: () => (this.needsHead ? "" : this.latestCursor),
        message: (m) => this.onMessage(m),
        expired: (reason) => {
          this.options.warn(`cfs sync: the saved position in the change feed is no longer usable (${reason}); listing everything again`);
          this.pending.clear();
          this.needsHead = true;
        },
        notice: (text) => this.options.out(text),
      };
      const following = followChanges(this.conn, handlers, { signal: halt.signal });
      following.catch(() => undefined);
      await Promise.race([stopped, fatal, following]);
      if (!signal.aborted) await Promise.race([stopped, fatal]);
    } finally {
      halt.abort();
      this.following = false;
      watcher?.close();
      clearInterval(rescan);
      for (const timer of this.timers) clearTimeout(timer);
      await this.queue;
      await this.persist(true).catch(() => undefined);
    }
    throw new CliError(ExitCode.interrupted, "interrupted");
  }

  // ── scheduling ──

  /** Runs task after everything queued before it; failures are reported, fatal ones stop the sync. */
  private enqueue(what: string, task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.conn.signal.aborted) return;
      try {
        await task();
      } catch (err) {
        this.report(what, err);
        this.schedule("full pass", RETRY_MS, () => this.fullPass());
      }
    });
    this.queue = run;
    return run;
  }

  /** Queues task once after delayMs; calls for the same key meanwhile fold into it. */
  private schedule(key: string, delayMs: number, task: () => Promise<void>): void {
    if (!this.following || this.conn.signal.aborted || this.scheduled.has(key)) return;
    this.scheduled.add(key);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.scheduled.delete(key);
      void this.enqueue(key, task);
    }, delayMs);
    this.timers.add(timer);
  }

  private watchFolder(): FSWatcher | undefined {
    const debounce = this.options.debounceMs ?? 300;
    const stateDirPrefix = `${STATE_DIR}${sep}`;
    const fallback = `rescanning every ${this.options.rescanMs / 1000} s instead`;
    try {
      const watcher = watch(this.root, { recursive: true }, (_event, filename) => {
        const name = filename?.toString() ?? "";
        if (name === STATE_DIR || name.startsWith(stateDirPrefix)) return;
        this.schedule("local pass", debounce, () => this.localPass());
      });
      watcher.on("error", (err) => this.options.warn(`cfs sync: watching the folder failed (${err.message}); ${fallback}`));
      return watcher;
    } catch (err) {
      this.options.warn(`cfs sync: cannot watch the folder (${(err as Error).message}); ${fallback}`);
      return undefined;
    }
  }

  private onMessage(message: WatchChangesResponse): void {
    this.latestCursor = message.cursor;
    if (this.needsHead) {
      // The first message from an empty cursor: the head, taken before the listing below.
      this.needsHead = false;
      const head = message.cursor;
      this.enqueue("full pass", async () => {
        await this.fullPass();
        this.state.cursor = head;
        this.dirty = true;
        await this.persist(true);
      });
      return;
    }
    if (message.change) {
      this.pending.set(message.change.fileId, message.change);
      this.schedule("remote changes", 100, () => this.applyPending());
    } else if (this.pending.size === 0 && !this.scheduled.has("remote changes")) {
      // A heartbeat: nothing of ours is in flight, so the cursor may move.
      this.enqueue("cursor", async () => {
        if (this.pending.size > 0 || this.state.cursor === message.cursor) return;
        this.state.cursor = message.cursor;
        this.dirty = true;
        await this.persist(true);
      });
    }
  }

  // ── passes ──

  /** Remote listing against a scan of the folder and the saved state. */
  private async fullPass(): Promise<void> {
    const listing = await listFiles(this.conn, { prefix: "", pageSize: 1000, pageToken: "", all: true });
    const remote = new Map<string, RemoteFile>();
    for (const file of listing.files) {
      if (isSyncablePath(file.name)) remote.set(file.name, toRemote(file));
      else this.warnOnce(`remote:${file.name}`, `cfs sync: "${displayName(file.name)}" stays on the server only: it cannot be a path in the folder`);
    }
    this.remote = remote;
    const local = await this.scan();
    await this.reconcile(new Set([...local.keys(), ...remote.keys(), ...this.state.files.keys()]), local, false);
  }

  /** After folder events: a scan (hashing only what changed) against the remote side as known. */
  private async localPass(): Promise<void> {
    const local = await this.scan();
    await this.reconcile(new Set([...local.keys(), ...this.remote.keys(), ...this.state.files.keys()]), local, true);
  }

  private scan(): Promise<Map<string, LocalFile>> {
    return scanFolder(
      this.root,
      this.state.files,
      this.conn.signal,
      (path, why) => this.warnOnce(`local:${path}`, `cfs sync: ${displayName(path)} is not synced: ${why}`),
      (from, to) => this.options.out(`renamed ${JSON.stringify(from)} to its NFC form ${JSON.stringify(to)}, the form the server keeps`),
    );
  }

  /** Applies a batch of feed changes: each file's current state comes from the catalogue, then its path is reconciled. */
  private async applyPending(): Promise<void> {
    const changes = [...this.pending.values()];
    const upto = this.latestCursor;
    this.pending.clear();
    const paths = new Set<string>();
    for (const change of changes) {
      if (!isSyncablePath(change.name)) continue;
      const known = this.state.files.get(change.name);
      // Our own upload coming back, or a change already applied: nothing to fetch.
      const content = change.eventType === EventType.EVENT_TYPE_UPLOAD || change.eventType === EventType.EVENT_TYPE_UPDATE;
      if (content && known?.fileId === change.fileId && known.version >= change.version) continue;
      const file = await this.getFile(change.fileId);
      // Known under another name (moved away, or gone to the trash): that path changes too.
      for (const [path, remote] of this.remote) {
        if (remote.fileId === change.fileId && path !== file?.name) {
          this.remote.delete(path);
          paths.add(path);
        }
      }
      if (file && isSyncablePath(file.name)) {
        this.remote.set(file.name, toRemote(file));
        paths.add(file.name);
      } else if (!file && this.remote.get(change.name)?.fileId === change.fileId) {
        this.remote.delete(change.name);
        paths.add(change.name);
      } else if (!file && known?.fileId === change.fileId) {
        paths.add(change.name);
      }
    }
    if (paths.size > 0) await this.reconcile(paths, undefined, false);
    this.state.cursor = upto;
    this.dirty = true;
    await this.persist(true);
  }

  private async getFile(fileId: string): Promise<File | undefined> {
    try {
      return (await this.conn.unary(this.conn.metadata.getFile.bind(this.conn.metadata), { fileId })).file;
    } catch (err) {
      if (isServiceError(err) && err.code === GrpcStatus.NOT_FOUND) return undefined;
      throw err;
    }
  }

  /**
   * Plans and runs the actions for some paths. `scanned` is a scan of the
   * whole folder (else each path is looked at); with `settle`, files still
   * being written wait for a later pass.
   */
  private async reconcile(paths: ReadonlySet<string>, scanned: Map<string, LocalFile> | undefined, settle: boolean): Promise<void> {
    const settleMs = this.options.settleMs ?? 1_000;
    const entries = new Map<string, PathState>();
    let busy = false;
    for (const path of paths) {
      const base = this.state.files.get(path);
      const local = scanned ? scanned.get(path) : await scanOne(this.root, path, base, this.conn.signal);
      if (settle && local && local.sha256 !== base?.sha256 && Date.now() - local.mtimeMs < settleMs) {
        busy = true;
        continue;
      }
      entries.set(path, { local, remote: this.remote.get(path), base });
    }
    let failed = false;
    // Renames first: a file moved on one side is renamed on the other, not deleted and sent again.
    for (const move of findMoves(entries)) {
      if (this.conn.signal.aborted) break;
      entries.delete(move.from);
      entries.delete(move.to);
      try {
        await this.move(move);
      } catch (err) {
        failed ||= !(err instanceof ChangedMeanwhile);
        this.report(move.from, err);
      }
      await this.persist(false);
    }
    const actions = plan(entries, { now: new Date(), taken: (p) => this.taken(p) });
    // Uploads of files below one chunk go many at a time; each path's upload
    // is independent of the other actions, so they can go first.
    const { chunkMinBytes } = await this.conn.uploadConfig();
    const small = actions.filter((a): a is UploadAction => a.kind === "upload" && a.local.size < chunkMinBytes);
    // A Set: a first sync may plan a hundred thousand actions.
    const batched = new Set<Action>(small);
    for (const group of batches(small)) {
      if (this.conn.signal.aborted) break;
      failed = (await this.uploadMany(group)) || failed;
      await this.persist(false);
    }
    for (const action of actions) {
      if (this.conn.signal.aborted) break;
      if (batched.has(action)) continue;
      try {
        await this.execute(action, false);
      } catch (err) {
        failed ||= !(err instanceof ChangedMeanwhile);
        this.report(action.path, err);
      }
      await this.persist(false);
    }
    await this.persist(true);
    if (busy) this.schedule("local pass", settleMs, () => this.localPass());
    if (failed) this.schedule("full pass", RETRY_MS, () => this.fullPass());
  }

  private taken(path: string): boolean {
    // A name that cannot exist is free; using it fails, and is reported, later.
    if (!isSyncablePath(path)) return false;
    return this.remote.has(path) || this.state.files.has(path) || existsSync(localPath(this.root, path));
  }

  // ── actions ──

  private async execute(action: Action, fresh: boolean): Promise<void> {
    if (!fresh && (action.kind === "upload" || action.kind === "delete-remote" || action.kind === "conflict")) {
      // The remote side may have moved since it was listed: look again, and
      // do what the fresh state calls for (a conflict instead of an upload...).
      const remote = await this.refreshRemote(action.path);
      await this.replan(action.path, action.kind === "delete-remote" ? undefined : action.local, remote);
      return;
    }
    switch (action.kind) {
      case "record":
        this.state.files.set(action.path, action.state);
        this.dirty = true;
        return;
      case "forget":
        this.state.files.delete(action.path);
        this.dirty = true;
        return;
      case "upload":
        return this.upload(action.path, action.local);
      case "download":
        return this.download(action.path, action.remote, action.local);
      case "delete-local":
        return this.deleteLocal(action.path, action.local);
      case "delete-remote":
        return this.deleteRemote(action.path, action.base.fileId);
      case "conflict":
        return this.conflict(action.path, action.conflictPath, action.local, action.remote);
    }
  }

  /** Does what a path calls for given a remote side just fetched (no second look). */
  private async replan(path: string, local: LocalFile | undefined, remote: RemoteFile | undefined): Promise<void> {
    const action = planPath(path, { local, remote, base: this.state.files.get(path) }, { now: new Date(), taken: (p) => this.taken(p) });
    if (action) await this.execute(action, true);
  }

  /** The remote file at exactly this name now (names sort byte-wise, so it comes first under its own prefix). */
  private async refreshRemote(path: string): Promise<RemoteFile | undefined> {
    const page = await this.conn.unary(this.conn.metadata.listFiles.bind(this.conn.metadata), { prefix: path, pageSize: 1, pageToken: "" });
    const file = page.files[0];
    const remote = file && file.name === path ? toRemote(file) : undefined;
    if (remote) this.remote.set(path, remote);
    else this.remote.delete(path);
    return remote;
  }

  /**
   * Uploads small files in one UploadFiles call. Each path is first looked
   * at again on the server, as for one upload, and what no longer calls for
   * an upload is done on its own. If the batch fails (one file refused, one
   * gone meanwhile), each file is uploaded on its own, so that one file
   * cannot hold back the others. Answers whether anything failed.
   */
  private async uploadMany(actions: readonly UploadAction[]): Promise<boolean> {
    let failed = false;
    const attempt = async (path: string, work: () => Promise<void>) => {
      try {
        await work();
      } catch (err) {
        failed ||= !(err instanceof ChangedMeanwhile);
        this.report(path, err);
      }
    };
    const remotes = await Promise.all(actions.map((a) => this.refreshRemote(a.path).then((remote) => ({ remote }), (err: unknown) => ({ err }))));
    const ready: UploadAction[] = [];
    for (const [i, action] of actions.entries()) {
      const looked = remotes[i]!;
      if ("err" in looked) {
        failed = true;
        this.report(action.path, looked.err);
        continue;
      }
      const fresh = planPath(action.path, { local: action.local, remote: looked.remote, base: this.state.files.get(action.path) }, { now: new Date(), taken: (p) => this.taken(p) });
      if (fresh?.kind === "upload") ready.push(fresh);
      else if (fresh) await attempt(action.path, () => this.execute(fresh, true));
    }
    if (ready.length === 0 || this.conn.signal.aborted) return failed;
    let files: File[];
    try {
      files = await putBatch(this.conn, ready.map((a) => ({ path: localPath(this.root, a.path), name: a.path, contentType: "" })));
    } catch (err) {
      if (this.conn.signal.aborted || (isServiceError(err) && FATAL.has(err.code))) {
        this.report(ready[0]!.path, err);
        return true;
      }
      for (const action of ready) await attempt(action.path, () => this.upload(action.path, action.local));
      return failed;
    }
    ready.forEach((action, i) => this.recorded(action.path, action.local, files[i]!));
    return failed;
  }

  private async upload(path: string, local: LocalFile): Promise<void> {
    const { file } = await put(this.conn, { path: localPath(this.root, path), name: path, contentType: "", verify: true }, () => noProgress, this.uploads);
    this.recorded(path, local, file);
  }

  /** Records a file we uploaded as synced, and says so. */
  private recorded(path: string, local: LocalFile, file: File): void {
    // If the file changed after it was scanned, what was sent is newer than the mtime we know: hash it again next time.
    const mtimeMs = file.sha256 === local.sha256 ? local.mtimeMs : -1;
    this.state.files.set(path, { fileId: file.fileId, version: file.version, sha256: file.sha256, size: file.size, mtimeMs });
    this.remote.set(path, toRemote(file));
    this.dirty = true;
    this.options.out(`uploaded ${displayName(path)} (${formatBytes(file.size)}, version ${file.version})`);
  }

  /**
   * Downloads into .cfs-sync/tmp, then renames over the target, but only if
   * the local file is still what was planned with: a local edit made during
   * the download is never overwritten.
   */
  private async download(path: string, remote: RemoteFile, expected: LocalFile | undefined): Promise<void> {
    const target = localPath(this.root, path);
    await this.ensureParent(path);
    const tempDir = join(stateDir(this.root), "tmp");
    await mkdir(tempDir, { recursive: true });
    const temp = join(tempDir, randomBytes(8).toString("hex"));
    let file: File;
    try {
      try {
        file = await this.fetch(remote, expected ? target : undefined, temp);
      } catch (err) {
        if (isServiceError(err) && err.code === GrpcStatus.NOT_FOUND) {
          // Deleted since it was listed: do what the path calls for now.
          await this.replan(path, expected, await this.refreshRemote(path));
          return;
        }
        throw err;
      }
      const current = await lstatOrUndefined(target);
      if (current && !current.isFile()) throw new Error(`${path} is not a regular file here; left alone`);
      const unchanged = expected ? current?.size === expected.size && current.mtimeMs === expected.mtimeMs : current === undefined;
      if (!unchanged) throw new ChangedMeanwhile(`${path} changed locally during the download; it is synced again on the next pass`);
      await rename(temp, target);
    } finally {
      await rm(temp, { force: true });
    }
    const info = await lstat(target);
    this.state.files.set(path, { fileId: file.fileId, version: file.version, sha256: file.sha256, size: file.size, mtimeMs: info.mtimeMs });
    this.remote.set(path, toRemote(file));
    this.dirty = true;
    this.options.out(`downloaded ${displayName(path)} (${formatBytes(file.size)}, version ${file.version})`);
  }

  /**
   * The remote file into `temp`. With a local copy to start from, only the
   * chunks it lacks are fetched (delta download); should that fail for any
   * reason but the file being gone (it changed meanwhile, the local copy is
   * unreadable), it is downloaded whole.
   */
  private async fetch(remote: RemoteFile, localCopy: string | undefined, temp: string): Promise<File> {
    if (localCopy !== undefined && remote.size > 0) {
      try {
        const { file, fetchedBytes, reusedBytes } = await deltaDownload(this.conn, remote.fileId, localCopy, temp);
        if (reusedBytes > 0) this.options.out(`fetched ${formatBytes(fetchedBytes)}, reused ${formatBytes(reusedBytes)} of the local copy`);
        return file;
      } catch (err) {
        if (isServiceError(err) && (err.code === GrpcStatus.NOT_FOUND || FATAL.has(err.code))) throw err;
        if (this.conn.signal.aborted) throw err;
        await rm(temp, { force: true });
      }
    }
    return get(this.conn, { fileId: remote.fileId, output: temp, offset: 0, length: 0 }, () => noProgress, process.stdout);
  }

  private async deleteLocal(path: string, expected: LocalFile): Promise<void> {
    const target = localPath(this.root, path);
    const current = await lstatOrUndefined(target);
    if (current && (!current.isFile() || current.size !== expected.size || current.mtimeMs !== expected.mtimeMs)) {
      throw new ChangedMeanwhile(`${path} changed locally while it was being deleted; it is synced again on the next pass`);
    }
    if (current) await rm(target);
    this.state.files.delete(path);
    this.dirty = true;
    await this.removeEmptyParents(path);
    this.options.out(`deleted ${displayName(path)} (deleted on the server)`);
  }

  private async deleteRemote(path: string, fileId: string): Promise<void> {
    try {
      await deleteFile(this.conn, fileId);
    } catch (err) {
      if (!(isServiceError(err) && err.code === GrpcStatus.NOT_FOUND)) throw err;
    }
    this.state.files.delete(path);
    this.remote.delete(path);
    this.dirty = true;
    this.options.out(`deleted ${displayName(path)} on the server (deleted locally)`);
  }

  /**
   * A rename on one side, done on the other. Locally: only if the file is
   * still what was planned with, and nothing is at the new path; then the
   * new path is planned again (the server may have a newer version too).
   * On the server: MoveFile; when the name was taken or the file went
   * meanwhile, both paths are planned as they are now instead.
   */
  private async move(move: Move): Promise<void> {
    if (move.kind === "rename-local") {
      const from = localPath(this.root, move.from);
      const to = localPath(this.root, move.to);
      const current = await lstatOrUndefined(from);
      if (!current?.isFile() || current.size !== move.local.size || current.mtimeMs !== move.local.mtimeMs || (await lstatOrUndefined(to))) {
        throw new ChangedMeanwhile(`${move.from} changed locally while it was being renamed; it is synced again on the next pass`);
      }
      await this.ensureParent(move.to);
      await rename(from, to);
      this.state.files.delete(move.from);
      this.state.files.set(move.to, move.base);
      this.dirty = true;
      await this.removeEmptyParents(move.from);
      this.options.out(`moved ${displayName(move.from)} -> ${displayName(move.to)} (moved on the server)`);
      await this.replan(move.to, move.local, this.remote.get(move.to));
      return;
    }
    let file: File;
    try {
      file = await moveFile(this.conn, move.base.fileId, move.to);
    } catch (err) {
      if (!(isServiceError(err) && (err.code === GrpcStatus.ALREADY_EXISTS || err.code === GrpcStatus.NOT_FOUND))) throw err;
      await this.replan(move.from, undefined, await this.refreshRemote(move.from));
      await this.replan(move.to, move.local, await this.refreshRemote(move.to));
      return;
    }
    this.state.files.delete(move.from);
    this.remote.delete(move.from);
    this.state.files.set(move.to, { fileId: file.fileId, version: file.version, sha256: file.sha256, size: file.size, mtimeMs: move.local.mtimeMs });
    this.remote.set(move.to, toRemote(file));
    this.dirty = true;
    this.options.out(`moved ${displayName(move.from)} -> ${displayName(move.to)} on the server (moved locally)`);
  }

  /** Both sides changed: the local file becomes the conflict copy (uploaded), the remote one takes the name. */
  private async conflict(path: string, copy: string, local: LocalFile, remote: RemoteFile): Promise<void> {
    const from = localPath(this.root, path);
    const to = localPath(this.root, copy);
    const current = await lstatOrUndefined(from);
    if (!current?.isFile() || current.size !== local.size || current.mtimeMs !== local.mtimeMs || (await lstatOrUndefined(to))) {
      throw new ChangedMeanwhile(`${path} changed locally while a conflict was being resolved; it is synced again on the next pass`);
    }
    await rename(from, to);
    this.options.out(`conflict ${displayName(path)}: changed on both sides; the local version is kept as "${displayName(copy)}"`);
    let failure: unknown;
    try {
      await this.upload(copy, local);
    } catch (err) {
      failure = err;
    }
    try {
      await this.download(path, remote, undefined);
    } catch (err) {
      failure ??= err;
    }
    if (failure !== undefined) throw failure;
  }

  /** Creates the parent directories, refusing to go through anything but real directories (a symlink could lead outside). */
  private async ensureParent(path: string): Promise<void> {
    const segments = path.split("/").slice(0, -1);
    let dir = this.root;
    for (const segment of segments) {
      dir = join(dir, segment);
      const info = await lstatOrUndefined(dir);
      if (!info) await mkdir(dir).catch((err: unknown) => (errno(err) === "EEXIST" ? undefined : Promise.reject(err)));
      else if (!info.isDirectory()) throw new Error(`cannot write ${path}: ${relative(this.root, dir)} is not a directory`);
    }
  }

  private async removeEmptyParents(path: string): Promise<void> {
    for (let dir = posix.dirname(path); dir !== "."; dir = posix.dirname(dir)) {
      try {
        await rmdir(localPath(this.root, dir));
      } catch {
        return;
      }
    }
  }

  // ── state and reporting ──

  /** Saves the state when it changed: at once with force, else at most once a second. */
  private async persist(force: boolean): Promise<void> {
    if (!this.dirty || (!force && Date.now() - this.lastSave < 1_000)) return;
    this.dirty = false;
    this.lastSave = Date.now();
    await saveState(this.root, this.state);
  }

  private report(what: string, err: unknown): void {
    if (this.conn.signal.aborted) return;
    if (err instanceof ChangedMeanwhile) {
      this.options.warn(`cfs sync: ${err.message}`);
      return;
    }
    if (isServiceError(err) && FATAL.has(err.code)) {
      this.firstFailure ??= err;
      if (this.fatal) this.fatal(err);
      else throw err;
      return;
    }
    this.options.warn(`cfs sync: ${displayName(what)}: ${describeFailure(err).message}`);
    this.firstFailure ??= err;
  }

  private warnOnce(key: string, text: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.options.warn(text);
  }
}

