import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { CliError, ExitCode } from "../errors.js";
import { STATE_DIR } from "./paths.js";

/** What was last synced at a path: the remote file it matches and the local file it was. */
export interface FileState {
  fileId: string;
  version: number;
  sha256: string;
  size: number;
  /** The local file's mtime when it matched; -1 forces hashing it again. */
  mtimeMs: number;
}

export interface SyncState {
  /** The user the folder is synced for (the token's subject). */
  subject: string;
  /** WatchChanges cursor: every change up to it has been applied. */
  cursor: string;
  files: Map<string, FileState>;
}

interface StateFile {
  version: 1;
  subject: string;
  cursor: string;
  files: Record<string, FileState>;
}

export function stateDir(root: string): string {
  return join(root, STATE_DIR);
}

const stateFile = (root: string) => join(stateDir(root), "state.json");

export function emptyState(subject: string): SyncState {
  return { subject, cursor: "", files: new Map() };
}

/** The saved state, or an empty one for a folder never synced. */
export async function loadState(root: string, subject: string): Promise<SyncState> {
  let text: string;
  try {
    text = await readFile(stateFile(root), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyState(subject);
    throw err;
  }
  let parsed: StateFile;
  try {
    parsed = JSON.parse(text) as StateFile;
    if (parsed.version !== 1 || typeof parsed.files !== "object" || typeof parsed.cursor !== "string") throw new Error("unknown format");
  } catch (err) {
    throw new CliError(ExitCode.unexpected, `${stateFile(root)} is unreadable (${(err as Error).message}); move it away to sync from scratch`);
  }
  if (subject !== "" && parsed.subject !== "" && parsed.subject !== subject) {
    // Another user's state would turn every file of theirs into a deletion.
    throw new CliError(ExitCode.usage, `this folder is synced for user "${parsed.subject}", not "${subject}"`);
  }
  return { subject: parsed.subject || subject, cursor: parsed.cursor, files: new Map(Object.entries(parsed.files)) };
}

/** Writes the state atomically: a flushed temporary file renamed over the old one. */
export async function saveState(root: string, state: SyncState): Promise<void> {
  await mkdir(stateDir(root), { recursive: true });
  const body: StateFile = { version: 1, subject: state.subject, cursor: state.cursor, files: Object.fromEntries(state.files) };
  const temp = `${stateFile(root)}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(JSON.stringify(body));
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(temp, stateFile(root));
}

/**
 * Takes `.cfs-sync/lock` for this process: two syncs of one folder would
 * undo each other's work. A lock whose process is gone is taken over.
 */
export async function lockFolder(root: string): Promise<() => Promise<void>> {
  await mkdir(stateDir(root), { recursive: true });
  const file = join(stateDir(root), "lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, "wx", 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new CliError(ExitCode.usage, `the folder is being synced by another cfs sync (pid ${pid})`);
      }
      await rm(file, { force: true });
    }
  }
  throw new CliError(ExitCode.unexpected, `cannot take ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
