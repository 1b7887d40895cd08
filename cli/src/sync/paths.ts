import { basename, dirname, extname, join, sep } from "node:path";
import { MAX_NAME_BYTES, MAX_SEGMENT_BYTES } from "#lib/limits.js";

/** The folder's own directory (state, lock, downloads in progress); never synced. */
export const STATE_DIR = ".cfs-sync";

/** C0, DEL and C1 controls: the server refuses them in names. */
const CONTROL = /\p{Cc}/u;

/**
 * Whether a relative path (`/` separators) may be mirrored: it must stay
 * inside the folder (no empty, `.` or `..` segment, no leading `/`, no
 * backslash), stay out of the state directory, and be a name the server
 * stores as-is (NFC, no control characters, at most 1024 bytes, 255 a
 * segment). Remote
 * names that fail are never written; local ones are never uploaded.
 */
export function isSyncablePath(path: string): boolean {
  if (path === "" || path.startsWith("/") || path.includes("\\") || CONTROL.test(path)) return false;
  if (path.normalize("NFC") !== path || Buffer.byteLength(path) > MAX_NAME_BYTES) return false;
  const segments = path.split("/");
  if (segments[0] === STATE_DIR) return false;
  return segments.every((s) => s !== "" && s !== "." && s !== ".." && Buffer.byteLength(s) <= MAX_SEGMENT_BYTES);
}

/** The absolute local path of a syncable relative path. */
export function localPath(root: string, path: string): string {
  if (!isSyncablePath(path)) throw new Error(`refusing to map "${path}" into the folder`);
  return join(root, ...path.split("/"));
}

/** A relative path in the folder with `/` separators, from one in the platform's form. */
export function toSyncPath(relative: string): string {
  return sep === "/" ? relative : relative.split(sep).join("/");
}

/** "2030-01-02 030405" in local time, as in "name (conflicted copy 2030-01-02 030405).ext". */
export function conflictStamp(at: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${two(at.getHours())}${two(at.getMinutes())}${two(at.getSeconds())}`;
}

/**
 * Where the local side of a conflict is kept: `dir/name (conflicted copy
 * <stamp>).ext` beside the original, numbered when that is taken too.
 */
export function conflictPath(path: string, at: Date, taken: (path: string) => boolean): string {
  const dir = dirname(path);
  const file = basename(path);
  // A leading dot starts a hidden name, not an extension (".bashrc").
  const ext = extname(file.replace(/^\.+/, ""));
  const stem = file.slice(0, file.length - ext.length);
  const prefix = dir === "." ? "" : `${dir}/`;
  for (let n = 1; ; n++) {
    const label = n === 1 ? `conflicted copy ${conflictStamp(at)}` : `conflicted copy ${conflictStamp(at)} ${n}`;
    const candidate = `${prefix}${stem} (${label})${ext}`;
    if (!taken(candidate)) return candidate;
  }
}
