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
