import { conflictPath } from "./paths.js";
import type { FileState } from "./state.js";

/** A local file as scanned. */
export interface LocalFile {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** The newest version of a remote file. */
export interface RemoteFile {
  fileId: string;
  version: number;
  size: number;
  sha256: string;
}

/** What is known about one path: each side now, and what they were at the last sync. */
export interface PathState {
  local?: LocalFile | undefined;
  remote?: RemoteFile | undefined;
  base?: FileState | undefined;
}

export type Action =
  /** Upload the local file (a new file, or a new version of base's). */
  | { kind: "upload"; path: string; local: LocalFile; base: FileState | undefined }
  /** Replace (or create) the local file with the remote one. */
  | { kind: "download"; path: string; remote: RemoteFile; local: LocalFile | undefined }
  /** The remote file is gone and the local one is unchanged: remove it. */
  | { kind: "delete-local"; path: string; local: LocalFile }
  /** The local file is gone and the remote one is unchanged: delete it. */
  | { kind: "delete-remote"; path: string; base: FileState }
  /** Both changed: the local file moves to conflictPath (and is uploaded there), the remote one is downloaded to path. */
  | { kind: "conflict"; path: string; conflictPath: string; local: LocalFile; remote: RemoteFile }
  /** Both sides already agree: only the saved state changes. */
  | { kind: "record"; path: string; state: FileState }
  /** Gone on both sides: forget the path. */
  | { kind: "forget"; path: string };

export interface PlanOptions {
  /** The time conflict copies are named after. */
  now: Date;
  /** Whether a path is in use on either side (conflict copies must not collide). */
  taken: (path: string) => boolean;
}

/**
 * What to do about one path. A side "changed" when it differs from the
 * base (the last sync): locally by content (SHA-256), remotely by file id
 * or version. Nothing is ever lost: an edit beats a delete on the other
 * side, and edits on both sides keep both files.
 */
export function planPath(path: string, { local, remote, base }: PathState, options: PlanOptions): Action | undefined {
  const localChanged = base ? !local || local.sha256 !== base.sha256 : local !== undefined;
  const remoteChanged = base ? !remote || remote.fileId !== base.fileId || remote.version !== base.version : remote !== undefined;
  const agreed = (r: RemoteFile, l: LocalFile): Action => ({
    kind: "record",
    path,
    state: { fileId: r.fileId, version: r.version, sha256: r.sha256, size: r.size, mtimeMs: l.mtimeMs },
  });

  if (!localChanged && !remoteChanged) {
    // Touched but not changed: remember the new mtime so it is not hashed again.
    if (base && local && local.mtimeMs !== base.mtimeMs) return { kind: "record", path, state: { ...base, mtimeMs: local.mtimeMs } };
    return undefined;
  }
  if (!remoteChanged) {
    if (local) return { kind: "upload", path, local, base };
    return base ? { kind: "delete-remote", path, base } : undefined;
  }
  if (!localChanged) {
    if (remote) return local && local.sha256 === remote.sha256 ? agreed(remote, local) : { kind: "download", path, remote, local };
    if (local) return { kind: "delete-local", path, local };
    return base ? { kind: "forget", path } : undefined;
  }
  // Both sides changed since the last sync (or both appeared without one).
  if (!local && !remote) return base ? { kind: "forget", path } : undefined;
  if (!local) return { kind: "download", path, remote: remote!, local: undefined };
  if (!remote) return { kind: "upload", path, local, base: undefined };
  if (local.sha256 === remote.sha256) return agreed(remote, local);
  return { kind: "conflict", path, conflictPath: conflictPath(path, options.now, options.taken), local, remote };
}

/** Plans every path, in path order; conflict copies avoid each other's names too. */
export function plan(paths: ReadonlyMap<string, PathState>, options: PlanOptions): Action[] {
  const claimed = new Set<string>();
  const taken = (p: string) => claimed.has(p) || paths.has(p) || options.taken(p);
  const actions: Action[] = [];
  for (const path of [...paths.keys()].sort()) {
    const action = planPath(path, paths.get(path)!, { now: options.now, taken });
    if (!action) continue;
    if (action.kind === "conflict") claimed.add(action.conflictPath);
    actions.push(action);
  }
  return actions;
}

/**
 * A file that changed its name on one side only, and is renamed on the
 * other instead of being deleted there and transferred again.
 */
export type Move =
  /** Renamed on the server (same file id under a new name): rename the unchanged local copy. */
  | { kind: "rename-local"; from: string; to: string; base: FileState; local: LocalFile }
  /** Renamed here (the same content under a new name, the old one gone): MoveFile on the server. */
  | { kind: "move-remote"; from: string; to: string; base: FileState; local: LocalFile };

/**
 * The moves among the paths: a synced file whose remote side now has its
 * id under another name where nothing local is (a remote move), or whose
 * local side is gone while its content appeared as a new file under another
 * name and the remote side is unchanged (a local rename, told by content;
 * empty files are too alike to tell). Each path takes part in one move at
 * most; everything else is left to planPath.
 */
export function findMoves(paths: ReadonlyMap<string, PathState>): Move[] {
  const remoteNewAt = new Map<string, string>();
  const localNewBySha = new Map<string, string[]>();
  for (const [path, { local, remote, base }] of paths) {
    if (remote && base?.fileId !== remote.fileId && !local && !base) remoteNewAt.set(remote.fileId, path);
    if (local && !remote && !base && local.size > 0) localNewBySha.set(local.sha256, [...(localNewBySha.get(local.sha256) ?? []), path]);
  }
  const claimed = new Set<string>();
  const moves: Move[] = [];
  for (const [from, { local, remote, base }] of [...paths].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!base) continue;
    if (!remote && local && local.sha256 === base.sha256) {
      const to = remoteNewAt.get(base.fileId);
      if (to !== undefined && !claimed.has(to)) {
        claimed.add(to);
        moves.push({ kind: "rename-local", from, to, base, local });
      }
    } else if (!local && remote && remote.fileId === base.fileId && remote.version === base.version && base.size > 0) {
      const to = localNewBySha.get(base.sha256)?.find((p) => !claimed.has(p));
      if (to !== undefined) {
        claimed.add(to);
        moves.push({ kind: "move-remote", from, to, base, local: paths.get(to)!.local! });
      }
    }
  }
  return moves;
}
