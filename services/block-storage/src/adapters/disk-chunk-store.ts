import { randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { access, link, mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { dataLoss, resourceExhausted } from "#lib/errors.js";
import {
  chunkKey,
  HEX_SHA256,
  isAfter,
  isQuarantinedAfter,
  quarantineStamp,
  type ChunkAllocator,
  type ChunkPosition,
  type ChunkStore,
  type ListedChunk,
  type QuarantinedChunk,
} from "../ports/chunk-store.js";
import { mapBounded, presentSizes, readAhead } from "./bounded.js";

export interface DiskChunkStoreOptions {
  /** `$CFS_DATA_DIR/blocks`. */
  root: string;
  /** A stored file larger than this is corruption, never read into memory. */
  maxChunkBytes: number;
  allocate?: ChunkAllocator;
}

/** stat/unlink calls in flight for one HasChunks or DeleteChunks. */
const FS_CONCURRENCY = 32;
/** Temp files older than this at start belong to a crashed process. */
const STALE_TEMP_MS = 10 * 60_000;

/**
 * Chunks as files under `<root>/<ownerKey>/<hash[0:2]>/<hash>`.
 *
 * A chunk is written to `<root>/.tmp/`, fdatasync'd, then hard-linked to its
 * final name: link(2) is atomic and fails when the name exists, so a crash
 * never leaves a partial chunk under its name, and a chunk already stored
 * (even by a concurrent put) is never rewritten. `.tmp` sits on the same
 * filesystem as the chunks, which link needs, and one directory of leftovers
 * is cheap to sweep at start. A quarantined chunk is renamed into
 * `<root>/.quarantine/<ms since the epoch, 15 digits>.<ownerKey>.<hash>`
 * (atomic, same filesystem), out of every read path; the names sort in the
 * order chunks were quarantined.
 */
export class DiskChunkStore implements ChunkStore {
  private constructor(
    private readonly root: string,
    private readonly tmpDir: string,
    private readonly quarantineDir: string,
    private readonly maxChunkBytes: number,
    private readonly allocate: ChunkAllocator,
  ) {}

  static async open(options: DiskChunkStoreOptions): Promise<DiskChunkStore> {
    const tmpDir = join(options.root, ".tmp");
    const quarantineDir = join(options.root, ".quarantine");
    await mkdir(tmpDir, { recursive: true });
    await mkdir(quarantineDir, { recursive: true });
    await sweepStaleTemps(tmpDir);
    return new DiskChunkStore(options.root, tmpDir, quarantineDir, options.maxChunkBytes, options.allocate ?? Buffer.allocUnsafe);
  }

  has(ownerKey: string, hashes: readonly string[]): Promise<Map<string, number>> {
    return presentSizes(hashes, FS_CONCURRENCY, async (hash) => {
      try {
        const info = await stat(this.pathOf(ownerKey, hash));
        return info.isFile() ? info.size : undefined;
      } catch (err) {
        if (isCode(err, "ENOENT")) return undefined;
        throw err;
      }
    });
  }

  async put(ownerKey: string, hash: string, parts: readonly Buffer[]): Promise<boolean> {
    const path = this.pathOf(ownerKey, hash);
    if (await exists(path)) return false;
    const dir = dirname(path);
    const tmp = join(this.tmpDir, `${randomUUID()}.part`);
    try {
      const firstCreated = await mkdir(dir, { recursive: true });
      const file = await open(tmp, "wx");
      try {
        await writeAll(file, parts);
        await file.datasync();
      } finally {
        await file.close();
      }
      try {
        await link(tmp, path);
      } catch (err) {
        if (isCode(err, "EEXIST")) return false;
        throw err;
      }
      // The new name is durable only once its directory (and any directory
      // mkdir just created, in its parent) is synced too.
      for (const d of directoriesToSync(dir, firstCreated)) await syncDirectory(d);
      return true;
    } catch (err) {
      if (isCode(err, "ENOSPC") || isCode(err, "EDQUOT")) throw resourceExhausted("block storage is out of disk space");
      throw err;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  getMany(ownerKey: string, hashes: readonly string[], ahead: number): AsyncGenerator<Buffer | undefined> {
    return readAhead(hashes, ahead, (hash) => this.get(ownerKey, hash));
  }

  async get(ownerKey: string, hash: string): Promise<Buffer | undefined> {
    let file;
    try {
      file = await open(this.pathOf(ownerKey, hash), "r");
    } catch (err) {
      if (isCode(err, "ENOENT")) return undefined;
      throw err;
    }
    try {
      const { size } = await file.stat();
      if (size > this.maxChunkBytes) {
        throw dataLoss(`chunk ${hash} is stored with ${size} bytes, more than any chunk may have`);
      }
      const data = this.allocate(size);
      let filled = 0;
      while (filled < size) {
        const { bytesRead } = await file.read(data, filled, size - filled, filled);
        // Shorter than its stat said (being replaced): what was read fails verification.
        if (bytesRead === 0) return data.subarray(0, filled);
        filled += bytesRead;
      }
      return data;
    } finally {
      await file.close();
    }
  }

  async delete(ownerKey: string, hashes: readonly string[]): Promise<number> {
    const removed = await mapBounded([...new Set(hashes)], FS_CONCURRENCY, async (hash) => {
      try {
        await unlink(this.pathOf(ownerKey, hash));
        return true;
      } catch (err) {
        if (isCode(err, "ENOENT")) return false;
        throw err;
      }
    });
    return removed.filter(Boolean).length;
  }

  async quarantine(ownerKey: string, hash: string): Promise<boolean> {
    try {
      await rename(this.pathOf(ownerKey, hash), join(this.quarantineDir, `${quarantineStamp(new Date())}.${ownerKey}.${hash}`));
      return true;
    } catch (err) {
      if (isCode(err, "ENOENT")) return false;
      throw err;
    }
  }

  async listQuarantined(after: QuarantinedChunk, limit: number): Promise<QuarantinedChunk[]> {
    // Chunks are rarely found corrupt: the whole directory is one short listing.
    const entries: QuarantinedChunk[] = [];
    for (const name of await hexNames(this.quarantineDir, QUARANTINED)) {
      const [stamp, ownerKey, hash] = name.split(".") as [string, string, string];
      const entry = { ownerKey, hash, quarantinedAt: new Date(Number(stamp)) };
      if (isQuarantinedAfter(entry, after)) entries.push(entry);
      if (entries.length >= limit) break;
    }
    return entries;
  }

  async list(after: ChunkPosition | undefined, limit: number): Promise<ListedChunk[]> {
    const out: ListedChunk[] = [];
    for (const ownerKey of await hexNames(this.root, HEX_SHA256)) {
      if (after && ownerKey < after.ownerKey) continue;
      for (const fanOut of await hexNames(join(this.root, ownerKey), FAN_OUT)) {
        if (after && ownerKey === after.ownerKey && fanOut < after.hash.slice(0, 2)) continue;
        for (const hash of await hexNames(join(this.root, ownerKey, fanOut), HEX_SHA256)) {
          if (after && !isAfter({ ownerKey, hash }, after)) continue;
          let info;
          try {
            info = await stat(join(this.root, ownerKey, fanOut, hash));
          } catch (err) {
            if (isCode(err, "ENOENT")) continue; // deleted meanwhile
            throw err;
          }
          out.push({ ownerKey, hash, size: info.size, storedAt: info.mtime });
          if (out.length >= limit) return out;
        }
      }
    }
    return out;
  }

  async check(): Promise<void> {
    await access(this.tmpDir, constants.R_OK | constants.W_OK);
    await access(this.root, constants.R_OK | constants.W_OK);
  }

  async close(): Promise<void> {
    // Every call opens and closes its own file handles: nothing is held.
  }

  private pathOf(ownerKey: string, hash: string): string {
    return join(this.root, ...chunkKey(ownerKey, hash).split("/"));
  }
}

const FAN_OUT = /^[0-9a-f]{2}$/;
const QUARANTINED = /^[0-9]{15}\.[0-9a-f]{64}\.[0-9a-f]{64}$/;

/** The entries of `dir` whose names match, sorted; none when it is gone. */
async function hexNames(dir: string, pattern: RegExp): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => pattern.test(n)).sort();
  } catch (err) {
    if (isCode(err, "ENOENT") || isCode(err, "ENOTDIR")) return [];
    throw err;
  }
}

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isCode(err, "ENOENT")) return false;
    throw err;
  }
}

/**
 * The parts, in order, with writev: the chunk goes to the file without being
 * joined first. A writev can write less than asked (libuv stops at a short
 * write, as when the disk fills up), so the rest is written again until it is
 * all there or a write fails with the reason.
 */
export async function writeAll(file: Pick<FileHandle, "writev">, parts: readonly Buffer[]): Promise<void> {
  let pending = parts.filter((part) => part.length > 0);
  while (pending.length > 0) {
    const { bytesWritten } = await file.writev(pending);
    pending = unwritten(pending, bytesWritten);
  }
}

/** What is left of `parts` once their first `bytes` are written. */
function unwritten(parts: readonly Buffer[], bytes: number): Buffer[] {
  let skipped = 0;
  let left = bytes;
  while (skipped < parts.length && parts[skipped]!.length <= left) left -= parts[skipped++]!.length;
  const rest = parts.slice(skipped);
  if (left > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}

/** `dir`, plus, when mkdir created directories, each of them up to and including the parent of the first one. */
function directoriesToSync(dir: string, firstCreated: string | undefined): string[] {
  const dirs = [dir];
  if (firstCreated !== undefined) {
    for (let d = dir; d !== firstCreated && dirname(d) !== d; d = dirname(d)) dirs.push(dirname(d));
    dirs.push(dirname(firstCreated));
  }
  return dirs;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Removes temp files a crashed process left behind. Only old ones: another
 * process sharing this root may be writing the young ones right now.
 */
async function sweepStaleTemps(tmpDir: string): Promise<void> {
  const cutoff = Date.now() - STALE_TEMP_MS;
  for (const name of await readdir(tmpDir)) {
    const path = join(tmpDir, name);
    try {
      if ((await stat(path)).mtimeMs < cutoff) await rm(path, { force: true });
    } catch (err) {
      if (!isCode(err, "ENOENT")) throw err;
    }
  }
}
