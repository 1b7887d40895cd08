import { describe, expect, it } from "vitest";
import { StatementNames, statement } from "./pg-statements.js";

describe("StatementNames", () => {
  it("names a text the same every time, and two texts apart", () => {
    const names = new StatementNames();
    const a = names.query("SELECT 1 WHERE $1", [1]);
    expect(a).toEqual({ name: expect.stringMatching(/^cfs_[0-9a-f]{32}$/), text: "SELECT 1 WHERE $1", values: [1] });
    expect(names.nameOf("SELECT 1 WHERE $1")).toBe(a.name);
    expect(new StatementNames().nameOf("SELECT 1 WHERE $1"), "stable across processes").toBe(a.name);
    expect(names.nameOf("SELECT 2 WHERE $1")).not.toBe(a.name);
  });

  it("sends unnamed without names (PGlite, poolers)", () => {
    expect(statement(undefined, "SELECT $1", [1])).toEqual({ text: "SELECT $1", values: [1] });
    expect(statement(new StatementNames(), "SELECT $1", [1]).name).toMatch(/^cfs_/);
  });

  it("leaves transaction control unnamed", () => {
    const names = new StatementNames();
    for (const text of ["BEGIN", "COMMIT", "ROLLBACK", " commit; "]) expect(names.query(text)).toEqual({ text, values: undefined });
  });

  it("names at most `max` texts; the rest run unnamed, and those named keep their names", () => {
    const names = new StatementNames(2);
    const first = names.nameOf("SELECT $1");
    names.nameOf("SELECT $2");
    expect(names.nameOf("SELECT $3")).toBeUndefined();
    expect(names.query("SELECT $3", [3])).toEqual({ text: "SELECT $3", values: [3] });
    expect(names.nameOf("SELECT $1")).toBe(first);
  });
});
