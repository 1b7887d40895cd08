import type { Action } from "./planner.js";

export type UploadAction = Extract<Action, { kind: "upload" }>;

/**
 * Small files per UploadFiles call (lib/limits.ts allows MAX_FILES_PER_BATCH):
 * enough that a first sync of a folder of small files makes few calls.
 */
export const BATCH_FILES = 100;
/** Bytes per UploadFiles call (at most MAX_BATCH_BYTES): read into memory before they are sent. */
export const BATCH_BYTES = 8 * 1024 * 1024;

/** Upload actions in groups of at most BATCH_FILES files and BATCH_BYTES, in order. */
export function batches(actions: readonly UploadAction[]): UploadAction[][] {
  const groups: UploadAction[][] = [];
  let bytes = 0;
  for (const action of actions) {
    const last = groups.at(-1);
    if (last && last.length < BATCH_FILES && bytes + action.local.size <= BATCH_BYTES) {
      last.push(action);
      bytes += action.local.size;
    } else {
      groups.push([action]);
      bytes = action.local.size;
    }
  }
  return groups;
}
