import { describe, expect, it } from "vitest";
import { HELP, parseCommand } from "./args.js";
import { CliError, ExitCode } from "./errors.js";

function usageFailure(argv: string[]): string {
  try {
    parseCommand(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.usage);
    return (err as CliError).message;
  }
  throw new Error(`parsed without error: ${argv.join(" ")}`);
}

describe("parseCommand", () => {
  it("parses put with defaults: base name, hash first, no forced progress", () => {
    expect(parseCommand(["put", "dir/report.pdf"])).toEqual({
      kind: "put",
      path: "dir/report.pdf",
      name: "report.pdf",
      contentType: "application/pdf",
      verify: true,
      progress: false,
    });
  });

  it("parses put options", () => {
    expect(
      parseCommand(["put", "a.bin", "--name", "backups/a.bin", "--content-type=application/octet-stream", "--no-verify", "--progress"]),
    ).toMatchObject({ name: "backups/a.bin", contentType: "application/octet-stream", verify: false, progress: true });
  });

  it("parses get with an output path, stdout and a range", () => {
    expect(parseCommand(["get", "id-1"])).toEqual({ kind: "get", fileId: "id-1", output: undefined, offset: 0, length: 0, version: 0, progress: false });
    expect(parseCommand(["get", "id-1", "--version", "3"])).toMatchObject({ version: 3 });
    expect(() => parseCommand(["get", "id-1", "--version", "0"])).toThrow(/--version must be an integer from 1/);
    expect(parseCommand(["get", "id-1", "-o", "-"])).toMatchObject({ output: "-" });
    expect(parseCommand(["get", "id-1", "--output", "x.bin", "--offset", "10", "--length", "5"])).toMatchObject({
      output: "x.bin",
      offset: 10,
      length: 5,
    });
  });

  it("parses ls, versions, rm and token", () => {
    expect(parseCommand(["ls"])).toEqual({ kind: "ls", prefix: "", pageSize: 0, pageToken: "", all: false, json: false });
    expect(parseCommand(["ls", "--prefix", "docs/", "--page-size", "20", "--page-token", "t", "--all", "--json"])).toEqual({
      kind: "ls",
      prefix: "docs/",
      pageSize: 20,
      pageToken: "t",
      all: true,
      json: true,
    });
    expect(parseCommand(["versions", "id-1", "--json"])).toEqual({ kind: "versions", fileId: "id-1", json: true });
    expect(parseCommand(["rm", "id-1"])).toEqual({ kind: "rm", fileId: "id-1" });
    expect(parseCommand(["token", "alice"])).toEqual({ kind: "token", user: "alice" });
  });

  it("parses mv, restore, trash, undelete, purge, usage and quota", () => {
    expect(parseCommand(["mv", "id-1", "docs/new name.txt"])).toEqual({ kind: "mv", fileId: "id-1", newName: "docs/new name.txt", json: false });
    expect(parseCommand(["restore", "id-1", "2", "--json"])).toEqual({ kind: "restore", fileId: "id-1", version: 2, json: true });
    expect(parseCommand(["trash", "--all"])).toEqual({ kind: "trash", all: true, json: false });
    expect(parseCommand(["undelete", "id-1"])).toEqual({ kind: "undelete", fileId: "id-1", json: false });
    expect(parseCommand(["purge", "id-1"])).toEqual({ kind: "purge", fileId: "id-1" });
    expect(parseCommand(["usage", "--json"])).toEqual({ kind: "usage", json: true });
    expect(parseCommand(["quota", "bob", "1000000"])).toEqual({ kind: "quota", owner: "bob", quotaBytes: 1_000_000 });
    expect(parseCommand(["quota", "bob", "default"])).toEqual({ kind: "quota", owner: "bob", quotaBytes: undefined });
    expect(() => parseCommand(["mv", "id-1"])).toThrow(/<new_name> is required/);
    expect(() => parseCommand(["restore", "id-1", "two"])).toThrow(/<version> must be an integer/);
    expect(() => parseCommand(["mv", "a", "b", "c"])).toThrow(/unexpected argument "c"/);
    expect(() => parseCommand(["trash", "x"])).toThrow(/unexpected argument/);
  });

  it("parses app-password create, list and revoke", () => {
    expect(parseCommand(["app-password", "create", "--label", "laptop Finder"])).toEqual({ kind: "app-password", action: "create", label: "laptop Finder", json: false });
    expect(parseCommand(["app-password", "list", "--json"])).toEqual({ kind: "app-password", action: "list", json: true });
    expect(parseCommand(["app-password", "revoke", "0b7e4a52-2c1f-4e8a-9d3b-5f6a7c8d9e0f"])).toEqual({
      kind: "app-password",
      action: "revoke",
      id: "0b7e4a52-2c1f-4e8a-9d3b-5f6a7c8d9e0f",
    });
  });

  it("parses sync with defaults and options", () => {
    expect(parseCommand(["sync", "~/cfs"])).toEqual({ kind: "sync", dir: "~/cfs", once: false, rescanSeconds: 300 });
    expect(parseCommand(["sync", "dir", "--once", "--rescan", "60"])).toEqual({ kind: "sync", dir: "dir", once: true, rescanSeconds: 60 });
    const help = parseCommand(["sync", "--help"]);
    expect(help.kind === "help" && help.text).toMatch(/^Usage: cfs sync <dir> \[--once\]/);
    expect(help.kind === "help" && help.text).toMatch(/conflicted copy YYYY-MM-DD HHMMSS/);
  });

  it("answers help globally and per command", () => {
    expect(parseCommand(["--help"])).toEqual({ kind: "help", text: HELP });
    expect(parseCommand(["help"])).toEqual({ kind: "help", text: HELP });
    const put = parseCommand(["put", "--help"]);
    expect(put.kind === "help" && put.text).toMatch(/^Usage: cfs put <path>/);
    const get = parseCommand(["help", "get"]);
    expect(get.kind === "help" && get.text).toMatch(/^Usage: cfs get <file_id>/);
  });

  it("documents every exit code in the help", () => {
    for (const code of Object.values(ExitCode)) expect(HELP).toMatch(new RegExp(`^  ${code} `, "m"));
  });

  it.each<[string[], RegExp]>([
    [[], /a command is required/],
    [["upload", "x"], /unknown command "upload"/],
    [["put"], /put: <path> is required/],
    [["put", "a", "b"], /unexpected argument "b"/],
    [["put", "a", "--name", ""], /--name must not be empty/],
    [["put", "a", "--name"], /put: Option '--name <value>' argument missing/],
    [["get", "id", "--verify"], /get: Unknown option '--verify'/],
    [["get", "id", "--offset", "-1"], /--offset/],
    [["get", "id", "--offset=-1"], /--offset must be an integer from 0/],
    [["get", "id", "--length", "1e3"], /--length must be an integer/],
    [["get", "id", "--offset", "9007199254740993"], /--offset must be an integer/],
    [["ls", "extra"], /ls: unexpected argument "extra"/],
    [["ls", "--page-size", "0"], /--page-size must be an integer from 1/],
    [["ls", "--page-size", "2147483648"], /--page-size/],
    [["rm"], /rm: <file_id> is required/],
    [["rm", ""], /<file_id> is required/],
    [["token"], /token: <user> is required/],
    [["sync"], /sync: <dir> is required/],
    [["sync", "a", "b"], /unexpected argument "b"/],
    [["sync", "a", "--rescan", "0"], /--rescan must be an integer from 1/],
    [["sync", "a", "--watch"], /sync: Unknown option '--watch'/],
    [["app-password"], /create, list or revoke is required/],
    [["app-password", "create"], /--label is required/],
    [["app-password", "revoke"], /<id> is required/],
    [["app-password", "list", "x"], /unexpected argument "x"/],
    [["app-password", "rotate"], /create, list or revoke is required/],
  ])("refuses %j", (argv, message) => {
    expect(usageFailure(argv)).toMatch(message);
  });
});
