import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { CliError, ExitCode } from "../errors.js";
import { FRAME_BYTES } from "../put.js";
import { isSyncablePath, localPath, STATE_DIR } from "./paths.js";
import type { LocalFile } from "./planner.js";
import type { FileState } from "./state.js";

export async function hashFile(path: string, signal: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  for await (const frame of createReadStream(path, { highWaterMark: FRAME_BYTES }) as AsyncIterable<Buffer>) {
    if (signal.aborted) throw new CliError(ExitCode.interrupted, "interrupted");
    hash.update(frame);
  }
  return hash.digest("hex");
}

/**
 * One local file as the planner sees it, or undefined when there is no
 * regular file (symlinks and directories are never synced). The content is
 * hashed only when size or mtime differ from the saved state.
 */
export async function scanOne(root: string, path: string, base: FileState | undefined, signal: AbortSignal): Promise<LocalFile | undefined> {
  const absolute = localPath(root, path);
  const info = await lstat(absolute).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT" || err.code === "ENOTDIR") return undefined;
    throw err;
  });
  if (!info?.isFile()) return undefined;
  if (base && base.size === info.size && base.mtimeMs === info.mtimeMs) return { size: info.size, mtimeMs: info.mtimeMs, sha256: base.sha256 };
  try {
    return { size: info.size, mtimeMs: info.mtimeMs, sha256: await hashFile(absolute, signal) };
  } catch (err) {
    // Removed while being hashed: it is simply not there.
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Every regular file under root (outside .cfs-sync) by relative path.
 * A name in another Unicode form than NFC (macOS writes NFD) is renamed to
 * its NFC form, the form the server keeps, and synced under it (`renamed`
 * tells), unless a file of that name exists too. Names the server would not
 * store (control characters, too long) are reported through `skip` and left
 * alone.
 */
export async function scanFolder(
  root: string,
  state: ReadonlyMap<string, FileState>,
  signal: AbortSignal,
  skip: (path: string, why: string) => void,
  renamed: (from: string, to: string) => void = () => undefined,
): Promise<Map<string, LocalFile>> {
  const found = new Map<string, LocalFile>();
  const walk = async (dir: string, prefix: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      // A directory removed while we walk it has no files.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return;
      throw err;
    }
    for (const entry of entries) {
      if (signal.aborted) throw new CliError(ExitCode.interrupted, "interrupted");
      let name = entry.name;
      const canonical = name.normalize("NFC");
      if (canonical !== name && !entry.isSymbolicLink()) {
        const from = prefix === "" ? name : `${prefix}/${name}`;
        if (await lstat(join(dir, canonical)).then(() => true, () => false)) {
          skip(from, "another file here has the same name in another Unicode form (the server keeps one)");
          continue;
        }
        await rename(join(dir, name), join(dir, canonical));
        name = canonical;
        renamed(from, prefix === "" ? name : `${prefix}/${name}`);
      }
      const path = prefix === "" ? name : `${prefix}/${name}`;
      if (prefix === "" && entry.name === STATE_DIR) continue;
      if (entry.isSymbolicLink()) {
        skip(path, "symbolic links are not synced");
        continue;
      }
      if (entry.isDirectory()) {
        await walk(join(dir, name), path);
        continue;
      }
      if (!entry.isFile()) continue;
      if (!isSyncablePath(path)) {
        skip(path, "the name cannot be stored as it is (control characters, or too long)");
        continue;
      }
      const file = await scanOne(root, path, state.get(path), signal);
      if (file) found.set(path, file);
    }
  };
  await walk(root, "");
  return found;
}
