import { createHash, type Hash } from "node:crypto";

/**
 * The SHA-256 of an upload session's content so far: chunks 0..next-1 in
 * order. A session's chunks arrive in order in the usual case (a fresh
 * upload, or one resumed on the same chunker), so hashing them as they pass
 * through spares FinishUpload from reading the file back; whatever is not
 * covered (chunks the client skipped because they were stored, a session
 * resumed on another replica, a restarted chunker) is read from block
 * storage instead. State here is a saving, never the truth: losing it costs
 * a read, not correctness.
 */
export interface ContentHashState {
  /** The first chunk not hashed yet. */
  next: number;
  hash: Hash;
}

/** Running content hashes by session, in memory, bounded (least recently used go first). */
export class ContentHashes {
  private readonly states = new Map<string, ContentHashState>();
  /** Sessions whose state a call is advancing right now: a second call on the same session does not touch it. */
  private readonly busy = new Set<string>();

  constructor(private readonly maxSessions: number) {}

  /**
   * Takes the session's state for a call to advance (a fresh one when none is
   * kept), or undefined when another call holds it. Give it back with
   * release() or drop it with discard().
   */
  acquire(uploadId: string): ContentHashState | undefined {
    if (this.busy.has(uploadId)) return undefined;
    this.busy.add(uploadId);
    const state = this.states.get(uploadId) ?? { next: 0, hash: createHash("sha256") };
    this.states.delete(uploadId);
    return state;
  }

  /** Keeps the state (as the most recently used) for the session's next call. */
  release(uploadId: string, state: ContentHashState): void {
    this.busy.delete(uploadId);
    this.states.set(uploadId, state);
    while (this.states.size > this.maxSessions) this.states.delete(this.states.keys().next().value!);
  }

  /** Forgets the session's state (it no longer describes verified content, or the session is done). */
  discard(uploadId: string): void {
    this.busy.delete(uploadId);
    this.states.delete(uploadId);
  }
}
