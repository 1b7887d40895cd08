import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { chunkFile, type ChunkedFile } from "../cli/src/transfer/chunk-file.js";
import { uploadBySession, type SessionUpload } from "../cli/src/transfer/session-upload.js";
import { noProgress } from "../cli/src/progress.js";
import { Connection } from "../cli/src/rpc.js";
import { benchFrames, withInsert } from "./data.js";
import type { Phase, PhaseRun } from "./bench.js";

/**
 * The re-upload phases of the delta data path (issue 9), through the CLI's
 * own transfer code (`cfs put`): a first upload by session, the same file
 * again, the file with one byte inserted in the middle, and an upload cut off
 * at half and resumed. Each reports the bytes that crossed the wire next to
 * the bytes of content, so the saving shows beside the time.
 *
 * The unchanged re-upload reuses the first upload's chunk list, as `cfs put`
 * does from its state (keyed by path, size and mtime); the insert is chunked
 * again inside the timed run, as `cfs put` must for a changed file.
 */
export function deltaPhases(options: { dataDir: string; chunkerAddress: string; metadataAddress: string; syncAddress: string; token: string; total: number; nextVariant: () => number }): Phase[] {
  const { dataDir, total } = options;
  const settings = { token: options.token, chunkerAddress: options.chunkerAddress, metadataAddress: options.metadataAddress, syncAddress: options.syncAddress, devIssuerUrl: "" };
  const connect = (signal = new AbortController().signal) => new Connection(settings, signal);
  const pathOf = (label: string, run: number) => join(dataDir, `delta-${label}-${run}.bin`);
  const writeFile = (path: string, frames: Iterable<Buffer>) => pipeline(Readable.from(frames), createWriteStream(path));
  const avgBytes = async () => {
    const conn = connect();
    try {
      return (await conn.uploadConfig()).chunkAvgBytes;
    } finally {
      conn.close();
    }
  };

  /** One session upload of `path`; resolves with what travelled. */
  const upload = async (name: string, path: string, chunked: ChunkedFile, extra: Partial<SessionUpload> = {}, conn = connect(), size = total): Promise<PhaseRun> => {
    let wireBytes = 0;
    try {
      const file = await uploadBySession(conn, {
        name,
        contentType: "application/octet-stream",
        path,
        chunked,
        resumeId: undefined,
        onSession: async () => undefined,
        onSent: (bytes) => void (wireBytes += bytes),
        onPlan: () => undefined,
        ...extra,
      });
      if (file.sha256 !== chunked.sha256 || file.size !== size) throw new Error(`bench: ${name} committed ${file.size} bytes with SHA-256 ${file.sha256}, not the file's`);
      return { bytes: size, wireBytes };
    } finally {
      conn.close();
    }
  };

  const firsts: Array<{ path: string; variant: number; chunked?: ChunkedFile }> = [];
  const inserts: string[] = [];
  const cut: Array<{ path: string; chunked: ChunkedFile; sessionId: string }> = [];
  return [
    {
      name: "cfs put, first upload (session)",
      direction: "upload",
      prepare: async (run) => {
        const path = pathOf("first", run);
        const variant = options.nextVariant();
        await writeFile(path, benchFrames(total, variant));
        firsts[run] = { path, variant };
      },
      run: async (run) => {
        const first = firsts[run]!;
        first.chunked = await chunkFile(first.path, await avgBytes(), noProgress, new AbortController().signal);
        return upload(`bench/delta-${run}.bin`, first.path, first.chunked!);
      },
    },
    {
      name: "cfs put, unchanged re-upload",
      direction: "upload",
      run: async (run) => {
        const first = firsts[run]!;
        return upload(`bench/delta-${run}.bin`, first.path, first.chunked!);
      },
      speedupOver: "cfs put, first upload (session)",
    },
    {
      name: "cfs put, 1-byte insert re-upload",
      direction: "upload",
      prepare: async (run) => {
        // The first upload's bytes with one more in the middle (its own copy is not needed any more).
        const first = firsts[run]!;
        await rm(first.path, { force: true });
        const path = pathOf("insert", run);
        await writeFile(path, withInsert(benchFrames(total, first.variant), Math.floor(total / 2), Buffer.from([0x2a])));
        inserts[run] = path;
      },
      run: async (run) => {
        const path = inserts[run]!;
        const chunked = await chunkFile(path, await avgBytes(), noProgress, new AbortController().signal);
        return upload(`bench/delta-${run}.bin`, path, chunked, {}, connect(), total + 1);
      },
      speedupOver: "cfs put, first upload (session)",
    },
    {
      name: "cfs put, resume after a cut at 50 %",
      direction: "upload",
      prepare: async (run) => {
        await rm(inserts[run]!, { force: true });
        const path = pathOf("cut", run);
        await writeFile(path, benchFrames(total, options.nextVariant()));
        const chunked = await chunkFile(path, await avgBytes(), noProgress, new AbortController().signal);
        // Untimed: the first attempt, cancelled (as a kill would) once half the file is confirmed stored.
        const stop = new AbortController();
        let sent = 0;
        let sessionId = "";
        await upload(`bench/cut-${run}.bin`, path, chunked, {
          onSession: async (id) => void (sessionId = id),
          onSent: (bytes) => {
            sent += bytes;
            if (sent >= total / 2) stop.abort();
          },
        }, connect(stop.signal)).then(
          () => Promise.reject(new Error("bench: the upload to be cut finished before half of it was sent")),
          () => undefined,
        );
        if (!sessionId) throw new Error("bench: the cut upload never opened a session");
        cut[run] = { path, chunked, sessionId };
      },
      run: async (run) => {
        const { path, chunked, sessionId } = cut[run]!;
        const result = await upload(`bench/cut-${run}.bin`, path, chunked, { resumeId: sessionId });
        await rm(path, { force: true });
        return result;
      },
    },
  ];
}
