import { mkdir, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { usageError } from "../errors.js";
import type { Connection } from "../rpc.js";
import { SyncEngine } from "./engine.js";
import { loadState, lockFolder, stateDir } from "./state.js";

export interface SyncRequest {
  dir: string;
  once: boolean;
  rescanSeconds: number;
}

/** The `sub` claim of a JWT, without verifying it (the services do): "" when it is not one. */
export function tokenSubject(token: string): string {
  const payload = token.split(".")[1];
  if (payload === undefined) return "";
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { sub?: unknown };
    return typeof claims.sub === "string" ? claims.sub : "";
  } catch {
    return "";
  }
}

/** `cfs sync <dir>`: one full pass with --once, else until interrupted. */
export async function sync(
  conn: Connection,
  token: string,
  request: SyncRequest,
  out: (line: string) => void,
  warn: (line: string) => void,
): Promise<void> {
  const root = resolve(request.dir);
  const existing = await stat(root).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw usageError(`sync: ${request.dir} is not a directory`);
  await mkdir(root, { recursive: true });
  const unlock = await lockFolder(root);
  try {
    // Downloads a killed predecessor left unfinished (the lock says none is running).
    await rm(join(stateDir(root), "tmp"), { recursive: true, force: true });
    const state = await loadState(root, tokenSubject(token));
    const engine = new SyncEngine(conn, state, { root, rescanMs: request.rescanSeconds * 1000, out, warn });
    if (request.once) await engine.runOnce();
    else await engine.runForever();
  } finally {
    await unlock();
  }
}
