import { describe, expect, it } from "vitest";
import { findMoves, plan, planPath, type LocalFile, type PathState, type RemoteFile } from "./planner.js";
import type { FileState } from "./state.js";

const H = (c: string) => c.repeat(64);
const now = new Date(2030, 0, 2, 3, 4, 5);
const options = { now, taken: () => false };

const base: FileState = { fileId: "f1", version: 2, sha256: H("a"), size: 10, mtimeMs: 1000 };
const sameLocal: LocalFile = { size: 10, mtimeMs: 1000, sha256: H("a") };
const editedLocal: LocalFile = { size: 11, mtimeMs: 2000, sha256: H("b") };
const sameRemote: RemoteFile = { fileId: "f1", version: 2, size: 10, sha256: H("a") };
const newerRemote: RemoteFile = { fileId: "f1", version: 3, size: 12, sha256: H("c") };

function one(state: PathState, path = "docs/report.txt") {
  return planPath(path, state, options);
}

describe("planPath", () => {
  it("does nothing when neither side changed", () => {
    expect(one({ local: sameLocal, remote: sameRemote, base })).toBeUndefined();
    expect(one({})).toBeUndefined();
  });

  it("records a new mtime when a file was touched but its content is the same", () => {
    expect(one({ local: { ...sameLocal, mtimeMs: 5000 }, remote: sameRemote, base })).toEqual({
      kind: "record",
      path: "docs/report.txt",
      state: { ...base, mtimeMs: 5000 },
    });
  });

  it("uploads a new local file and a local edit", () => {
    expect(one({ local: editedLocal })).toEqual({ kind: "upload", path: "docs/report.txt", local: editedLocal, base: undefined });
    expect(one({ local: editedLocal, remote: sameRemote, base })).toEqual({ kind: "upload", path: "docs/report.txt", local: editedLocal, base });
  });

  it("downloads a new remote file and a remote edit", () => {
    expect(one({ remote: newerRemote })).toMatchObject({ kind: "download", remote: newerRemote, local: undefined });
    expect(one({ local: sameLocal, remote: newerRemote, base })).toMatchObject({ kind: "download", remote: newerRemote, local: sameLocal });
    // Deleted and created again under the same name: another file id.
    const recreated = { ...sameRemote, fileId: "f2", version: 1, sha256: H("d") };
    expect(one({ local: sameLocal, remote: recreated, base })).toMatchObject({ kind: "download", remote: recreated });
  });

  it("propagates deletes both ways when the other side is unchanged", () => {
    expect(one({ local: sameLocal, base })).toEqual({ kind: "delete-local", path: "docs/report.txt", local: sameLocal });
    expect(one({ remote: sameRemote, base })).toEqual({ kind: "delete-remote", path: "docs/report.txt", base });
  });

  it("forgets a path deleted on both sides", () => {
    expect(one({ base })).toEqual({ kind: "forget", path: "docs/report.txt" });
  });

  it("keeps an edit over a delete on the other side", () => {
    expect(one({ local: editedLocal, base })).toEqual({ kind: "upload", path: "docs/report.txt", local: editedLocal, base: undefined });
    expect(one({ remote: newerRemote, base })).toMatchObject({ kind: "download", remote: newerRemote });
  });

  it("adopts identical content on both sides without moving bytes", () => {
    const remote = { ...newerRemote, sha256: editedLocal.sha256 };
    const expected = { kind: "record", path: "docs/report.txt", state: { fileId: "f1", version: 3, sha256: H("b"), size: 12, mtimeMs: 2000 } };
    expect(one({ local: editedLocal, remote, base })).toEqual(expected);
    // First sync of a folder that already holds the same file.
    expect(one({ local: editedLocal, remote })).toEqual(expected);
    // Remote changed to what the local file already is.
    expect(one({ local: sameLocal, remote: { ...newerRemote, sha256: H("a") }, base })).toMatchObject({ kind: "record" });
  });

  it("keeps both files when both sides changed", () => {
    expect(one({ local: editedLocal, remote: newerRemote, base })).toEqual({
      kind: "conflict",
      path: "docs/report.txt",
      conflictPath: "docs/report (conflicted copy 2030-01-02 030405).txt",
      local: editedLocal,
      remote: newerRemote,
    });
  });

  it("keeps both files when both sides created a different file under one name", () => {
    expect(one({ local: editedLocal, remote: newerRemote }, "notes")).toMatchObject({
      kind: "conflict",
      conflictPath: "notes (conflicted copy 2030-01-02 030405)",
    });
  });

  it("names conflict copies of hidden and multi-dot files sensibly and avoids taken names", () => {
    expect(one({ local: editedLocal, remote: newerRemote }, ".bashrc")).toMatchObject({
      conflictPath: ".bashrc (conflicted copy 2030-01-02 030405)",
    });
    expect(one({ local: editedLocal, remote: newerRemote }, "a/b.tar.gz")).toMatchObject({
      conflictPath: "a/b.tar (conflicted copy 2030-01-02 030405).gz",
    });
    const taken = (p: string) => p === "x (conflicted copy 2030-01-02 030405).md";
    expect(planPath("x.md", { local: editedLocal, remote: newerRemote }, { now, taken })).toMatchObject({
      conflictPath: "x (conflicted copy 2030-01-02 030405 2).md",
    });
  });
});

describe("plan", () => {
  it("plans every path in order and never hands two conflicts the same copy name", () => {
    const paths = new Map<string, PathState>([
      ["b.txt", { remote: newerRemote }],
      ["a.txt", { local: editedLocal, remote: newerRemote, base }],
      ["a (conflicted copy 2030-01-02 030405).txt", { local: sameLocal, remote: sameRemote, base }],
      ["c.txt", { local: sameLocal, remote: sameRemote, base }],
    ]);
    const actions = plan(paths, options);
    expect(actions.map((a) => [a.kind, a.path])).toEqual([
      ["conflict", "a.txt"],
      ["download", "b.txt"],
    ]);
    expect(actions[0]).toMatchObject({ conflictPath: "a (conflicted copy 2030-01-02 030405 2).txt" });
  });
});

describe("findMoves", () => {
  const moved = (entries: Record<string, PathState>) => findMoves(new Map(Object.entries(entries)));

  it("renames the local copy of a file the server moved, instead of deleting and downloading it", () => {
    expect(moved({ "a.txt": { local: sameLocal, base }, "dir/b.txt": { remote: sameRemote } })).toEqual([
      { kind: "rename-local", from: "a.txt", to: "dir/b.txt", base, local: sameLocal },
    ]);
    // Moved and edited on the server: still a rename (the edit is a download after it).
    expect(moved({ "a.txt": { local: sameLocal, base }, "b.txt": { remote: newerRemote } })).toHaveLength(1);
  });

  it("moves the server's file when a local file was renamed, told by its content", () => {
    const renamed = { ...sameLocal, mtimeMs: 1000 };
    expect(moved({ "a.txt": { remote: sameRemote, base }, "b.txt": { local: renamed } })).toEqual([
      { kind: "move-remote", from: "a.txt", to: "b.txt", base, local: renamed },
    ]);
  });

  it("leaves alone what is not one file under a new name on one side", () => {
    // Edited locally before the rename: a new file and a delete.
    expect(moved({ "a.txt": { remote: sameRemote, base }, "b.txt": { local: editedLocal } })).toEqual([]);
    // Changed on the server meanwhile: not a pure local rename.
    expect(moved({ "a.txt": { remote: newerRemote, base }, "b.txt": { local: sameLocal } })).toEqual([]);
    // Edited locally while the server moved it: the planner keeps both.
    expect(moved({ "a.txt": { local: editedLocal, base }, "b.txt": { remote: sameRemote } })).toEqual([]);
    // The new name is taken locally.
    expect(moved({ "a.txt": { local: sameLocal, base }, "b.txt": { remote: sameRemote, local: editedLocal } })).toEqual([]);
    // Empty files are all alike.
    const empty = { ...base, size: 0, sha256: H("e") };
    expect(moved({ "a.txt": { remote: { ...sameRemote, size: 0, sha256: H("e") }, base: empty }, "b.txt": { local: { size: 0, mtimeMs: 1, sha256: H("e") } } })).toEqual([]);
  });

  it("uses each new path for one move only", () => {
    const other: FileState = { ...base, fileId: "f2" };
    const moves = moved({
      "a.txt": { remote: sameRemote, base },
      "b.txt": { remote: { ...sameRemote, fileId: "f2" }, base: other },
      "c.txt": { local: sameLocal },
    });
    expect(moves).toEqual([{ kind: "move-remote", from: "a.txt", to: "c.txt", base, local: sameLocal }]);
  });
});
