import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Env } from "#lib/config.js";
import type { ChunkedFile } from "./chunk-file.js";

/** What identifies one version of a local file without reading it: the same test git and rsync use. */
export interface LocalVersion {
  /** Absolute, symlinks resolved. */
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

interface Entry extends LocalVersion {
  avgBytes: number;
  sha256: string;
  /** [sha256, size] per chunk, in order. */
  chunks: Array<[string, number]>;
  /** An upload session not finished yet. */
  uploadId?: string;
}

/**
 * What `cfs put` remembers about local files, one small JSON file per path
 * under $CFS_STATE_DIR (default $XDG_STATE_HOME/cfs, else ~/.local/state/cfs):
 * the chunk list of the version it last cut (so an unchanged file is not read
 * again) and the session of an upload that did not finish (so a rerun
 * resumes it). An entry counts only while path, size, mtime and inode are
 * unchanged; anything else is cut and uploaded afresh.
 */
export class UploadState {
  constructor(private readonly dir: string) {}

  static fromEnv(env: Env): UploadState {
    const base = env.CFS_STATE_DIR ?? join(env.XDG_STATE_HOME ?? join(homedir(), ".local", "state"), "cfs");
    return new UploadState(join(base, "uploads"));
  }

  /** The chunk list remembered for this version of the file, cut with `avgBytes`, and its unfinished session if any. */
  async lookup(version: LocalVersion, avgBytes: number): Promise<{ chunked: ChunkedFile; uploadId: string | undefined } | undefined> {
    const entry = await this.read(version.path);
    if (!entry || entry.size !== version.size || entry.mtimeMs !== version.mtimeMs || entry.ino !== version.ino || entry.avgBytes !== avgBytes) {
      return undefined;
    }
    let offset = 0;
    const chunks = entry.chunks.map(([sha256, size], index) => {
      const chunk = { index, offset, size, sha256 };
      offset += size;
      return chunk;
    });
    return { chunked: { size: entry.size, sha256: entry.sha256, chunks }, uploadId: entry.uploadId };
  }

  /** Remembers the version's chunk list, with the session uploading it (undefined once it is committed). */
  async remember(version: LocalVersion, avgBytes: number, chunked: ChunkedFile, uploadId: string | undefined): Promise<void> {
    const entry: Entry = {
      ...version,
      avgBytes,
      sha256: chunked.sha256,
      chunks: chunked.chunks.map((c) => [c.sha256, c.size]),
      ...(uploadId ? { uploadId } : {}),
    };
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.fileOf(version.path);
    const temp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temp, JSON.stringify(entry), { mode: 0o600 });
    await rename(temp, file);
  }

  async forget(path: string): Promise<void> {
    await rm(this.fileOf(path), { force: true });
  }

  private async read(path: string): Promise<Entry | undefined> {
    try {
      const entry = JSON.parse(await readFile(this.fileOf(path), "utf8")) as Entry;
      return entry.path === path && Array.isArray(entry.chunks) ? entry : undefined;
    } catch {
      // Missing or unreadable (a crash mid-write leaves only a .tmp): start afresh.
      return undefined;
    }
  }

  private fileOf(path: string): string {
    return join(this.dir, `${createHash("sha256").update(path).digest("hex")}.json`);
  }
}
