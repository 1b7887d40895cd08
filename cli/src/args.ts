import { basename } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { guessContentType } from "./content-type.js";
import { usageError } from "./errors.js";

export type Command =
  | { kind: "help"; text: string }
  | { kind: "put"; path: string; name: string; contentType: string; verify: boolean; progress: boolean }
  | { kind: "get"; fileId: string; output: string | undefined; offset: number; length: number; version: number; progress: boolean }
  | { kind: "ls"; prefix: string; pageSize: number; pageToken: string; all: boolean; json: boolean }
  | { kind: "rm"; fileId: string }
  | { kind: "mv"; fileId: string; newName: string; json: boolean }
  | { kind: "restore"; fileId: string; version: number; json: boolean }
  | { kind: "trash"; all: boolean; json: boolean }
  | { kind: "undelete"; fileId: string; json: boolean }
  | { kind: "purge"; fileId: string }
  | { kind: "usage"; json: boolean }
  | { kind: "quota"; owner: string; quotaBytes: number | undefined }
  | { kind: "versions"; fileId: string; json: boolean }
  | { kind: "token"; user: string }
  | { kind: "sync"; dir: string; once: boolean; rescanSeconds: number }
  | { kind: "app-password"; action: "create"; label: string; json: boolean }
  | { kind: "app-password"; action: "list"; json: boolean }
  | { kind: "app-password"; action: "revoke"; id: string };

const USAGE = {
  put: `cfs put <path> [--name NAME] [--content-type TYPE] [--no-verify] [--progress]
    Uploads a file (a new version when NAME exists) and prints it as JSON.
    NAME defaults to the file's base name, TYPE to one guessed from the
    extension (none when unknown). The file is read twice: once to
    hash it, so the server refuses content that does not match, then to send
    it. --no-verify skips the first pass; the hash the server reports is
    still compared with what was sent.`,
  get: `cfs get <file_id> [-o PATH|-] [--version N] [--offset N] [--length N] [--progress]
    Downloads the newest version (or version N) to PATH (default: the file's base name in
    the current directory), replacing it only once everything arrived and
    matched the file's size and SHA-256; -o - writes to stdout (checked after
    the fact). --offset/--length fetch a byte range (only its size is checked).`,
  ls: `cfs ls [--prefix P] [--page-size N] [--page-token T] [--all] [--json]
    Lists your files by name, one page (or --all pages).`,
  rm: `cfs rm <file_id>
    Moves a file to the trash (see cfs trash): gone from every listing and
    download at once; cfs undelete brings it back, cfs purge deletes it for
    good, and the trash is emptied after 30 days (the server's setting).`,
  mv: `cfs mv <file_id> <new_name> [--json]
    Renames or moves a file (/ separates folders); it keeps its id and
    versions and no content moves. Fails if another file has the name.`,
  restore: `cfs restore <file_id> <version> [--json]
    Makes an old version the newest again (a new version with its content;
    no bytes move).`,
  trash: `cfs trash [--all] [--json]
    Lists the trash, most recently deleted first.`,
  undelete: `cfs undelete <file_id> [--json]
    Brings a file back from the trash under its name (fails if another file
    took the name meanwhile: rename that one first).`,
  purge: `cfs purge <file_id>
    Deletes a file in the trash for good.`,
  usage: `cfs usage [--json]
    How much you store (the newest version of every file plus the trash;
    older versions do not count) against your quota.`,
  quota: `cfs quota <user> <bytes>|default
    Operators: sets a user's quota in bytes (0: unlimited; default: the
    server's CFS_DEFAULT_QUOTA_BYTES again). CFS_TOKEN must be a service
    token (client credentials with the cfs:service scope).`,
  versions: `cfs versions <file_id> [--json]
    Lists every version of a file, newest first.`,
  token: `cfs token <user>
    Prints a development token: export CFS_TOKEN=$(cfs token alice)`,
  sync: `cfs sync <dir> [--once] [--rescan SECONDS]
    Mirrors a folder (created when missing) with your files, both ways. A full
    pass first compares the remote listing, the folder and what was synced
    last (kept in <dir>/.cfs-sync/, so only what changed moves); then it
    follows remote changes and watches the folder until Ctrl-C, and repeats
    the full pass every --rescan seconds (default 300) as a safety net.
    Remote names map to paths (/ separates folders); names that would leave
    the folder are never written. A rename on either side is a rename on
    the other (told by content locally: nothing is sent again). Deletes
    propagate both ways (to the server's trash), an edit wins
    over a delete, and a file changed on both sides keeps both: the local one
    becomes "name (conflicted copy YYYY-MM-DD HHMMSS).ext". Prints a line per
    file moved. --once does one full pass and exits (1-7 if a file failed).`,
  "app-password": `cfs app-password create --label LABEL [--json] | list [--json] | revoke <id>
    App passwords for WebDAV clients (Finder, Explorer, davfs2, rclone) that
    cannot sign in: create prints the user name and the password, shown this
    once; list shows labels and last use; revoke ends it at once. Needs a
    token from a normal sign-in (not one opened with an app password).`,
} as const;

type CommandName = keyof typeof USAGE;

export const HELP = `Usage: cfs <command> [options]   (cfs <command> --help for one command)

Commands:
${Object.values(USAGE)
  .map((text) => `  ${text}`)
  .join("\n\n")}

Environment:
  CFS_TOKEN           bearer token (every command but token)
  CFS_CHUNKER_ADDR    chunker service (default localhost:8002)
  CFS_METADATA_ADDR   metadata service (default localhost:8000)
  CFS_SYNC_ADDR       sync service, for cfs sync (default localhost:8001)
  CFS_DEV_ISSUER_URL  dev token issuer (default http://127.0.0.1:8090)
  CFS_DEBUG           set to print the stack of unexpected errors

Progress goes to stderr when it is a terminal, or with --progress.

Exit codes:
  0    success
  1    unexpected error
  2    usage error
  3    not found (remote file or local path)
  4    unauthenticated or permission denied (also: CFS_TOKEN not set)
  5    invalid argument (the server refused the request)
  6    integrity failure: the server reported data loss, or what arrived
       does not match the file's size or SHA-256
  7    service unavailable or deadline exceeded
  8    another file has that name (mv, undelete)
  9    over the quota (see cfs usage)
  130  interrupted (Ctrl-C or SIGTERM; how a running cfs sync stops)
  141  stdout closed early (e.g. piped into head)
`;

const help = { type: "boolean", short: "h" } as const;
const progress = { type: "boolean" } as const;
const json = { type: "boolean" } as const;

const OPTIONS = {
  put: { help, progress, name: { type: "string" }, "content-type": { type: "string" }, "no-verify": { type: "boolean" } },
  get: { help, progress, output: { type: "string", short: "o" }, offset: { type: "string" }, length: { type: "string" }, version: { type: "string" } },
  ls: { help, json, prefix: { type: "string" }, "page-size": { type: "string" }, "page-token": { type: "string" }, all: { type: "boolean" } },
  rm: { help },
  mv: { help, json },
  restore: { help, json },
  trash: { help, json, all: { type: "boolean" } },
  undelete: { help, json },
  purge: { help },
  usage: { help, json },
  quota: { help },
  versions: { help, json },
  token: { help },
  sync: { help, once: { type: "boolean" }, rescan: { type: "string" } },
  "app-password": { help, json, label: { type: "string" } },
} as const satisfies Record<CommandName, ParseArgsConfig["options"]>;

function isCommandName(value: string): value is CommandName {
  return Object.hasOwn(USAGE, value);
}

/** Parses the arguments after `cfs`; throws a usage error (exit 2) for anything malformed. */
export function parseCommand(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined) throw usageError(`a command is required: ${Object.keys(USAGE).join(", ")} (see cfs --help)`);
  if (first === "-h" || first === "--help") return { kind: "help", text: HELP };
  if (first === "help") {
    const topic = rest[0];
    return { kind: "help", text: topic !== undefined && isCommandName(topic) ? `Usage: ${USAGE[topic]}\n` : HELP };
  }
  if (!isCommandName(first)) throw usageError(`unknown command "${first}" (see cfs --help)`);

  let parsed;
  try {
    parsed = parseArgs({ args: [...rest], options: OPTIONS[first], allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs explains unknown options and missing values well; keep its first line.
    throw usageError(`${first}: ${(err as Error).message.split("\n")[0]}`);
  }
  // No option sets `multiple`, so each value is a single string or boolean.
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help === true) return { kind: "help", text: `Usage: ${USAGE[first]}\n` };
  const str = (key: string) => values[key] as string | undefined;
  const flag = (key: string) => values[key] === true;
  if (first === "app-password") return appPasswordCommand(parsed.positionals, str("label"), flag("json"));
  if (first === "mv" || first === "restore" || first === "quota") return twoPositionalCommand(first, parsed.positionals, flag("json"));
  const positional = onePositional(first, parsed.positionals);

  switch (first) {
    case "put": {
      const name = str("name") ?? basename(positional);
      if (name === "") throw usageError("put: --name must not be empty");
      return {
        kind: "put",
        path: positional,
        name,
        contentType: str("content-type") ?? guessContentType(name),
        verify: !flag("no-verify"),
        progress: flag("progress"),
      };
    }
    case "get":
      return {
        kind: "get",
        fileId: positional,
        output: str("output"),
        offset: integer(str("offset"), "--offset", Number.MAX_SAFE_INTEGER) ?? 0,
        length: integer(str("length"), "--length", Number.MAX_SAFE_INTEGER) ?? 0,
        version: integer(str("version"), "--version", 2 ** 31 - 1, 1) ?? 0,
        progress: flag("progress"),
      };
    case "ls":
      return {
        kind: "ls",
        prefix: str("prefix") ?? "",
        pageSize: integer(str("page-size"), "--page-size", 2 ** 31 - 1, 1) ?? 0,
        pageToken: str("page-token") ?? "",
        all: flag("all"),
        json: flag("json"),
      };
    case "rm":
      return { kind: "rm", fileId: positional };
    case "trash":
      return { kind: "trash", all: flag("all"), json: flag("json") };
    case "undelete":
      return { kind: "undelete", fileId: positional, json: flag("json") };
    case "purge":
      return { kind: "purge", fileId: positional };
    case "usage":
      return { kind: "usage", json: flag("json") };
    case "versions":
      return { kind: "versions", fileId: positional, json: flag("json") };
    case "token":
      return { kind: "token", user: positional };
    case "sync":
      return {
        kind: "sync",
        dir: positional,
        once: flag("once"),
        rescanSeconds: integer(str("rescan"), "--rescan", 86_400, 1) ?? 300,
      };
  }
}

function appPasswordCommand(positionals: readonly string[], label: string | undefined, json: boolean): Command {
  const [action, id, extra] = positionals;
  const unexpected = action === "revoke" ? extra : id;
  if (unexpected !== undefined) throw usageError(`app-password: unexpected argument "${unexpected}"`);
  switch (action) {
    case "create":
      if (!label?.trim()) throw usageError("app-password create: --label is required (e.g. --label \"laptop Finder\")");
      return { kind: "app-password", action, label, json };
    case "list":
      return { kind: "app-password", action, json };
    case "revoke":
      if (!id) throw usageError("app-password revoke: <id> is required (see cfs app-password list)");
      return { kind: "app-password", action, id };
    default:
      throw usageError("app-password: create, list or revoke is required");
  }
}

/** mv, restore and quota: two arguments each. */
function twoPositionalCommand(command: "mv" | "restore" | "quota", positionals: readonly string[], json: boolean): Command {
  const names = { mv: ["<file_id>", "<new_name>"], restore: ["<file_id>", "<version>"], quota: ["<user>", "<bytes>|default"] }[command];
  const [first, second, extra] = positionals;
  if (!first) throw usageError(`${command}: ${names[0]} is required`);
  if (second === undefined || second === "") throw usageError(`${command}: ${names[1]} is required`);
  if (extra !== undefined) throw usageError(`${command}: unexpected argument "${extra}"`);
  switch (command) {
    case "mv":
      return { kind: "mv", fileId: first, newName: second, json };
    case "restore":
      return { kind: "restore", fileId: first, version: integer(second, "<version>", 2 ** 31 - 1, 1)!, json };
    case "quota":
      return { kind: "quota", owner: first, quotaBytes: second === "default" ? undefined : integer(second, "<bytes>", Number.MAX_SAFE_INTEGER)! };
  }
}

const POSITIONAL_NAMES: Record<Exclude<CommandName, "app-password" | "mv" | "restore" | "quota">, string> = {
  put: "<path>",
  get: "<file_id>",
  ls: "",
  rm: "<file_id>",
  trash: "",
  undelete: "<file_id>",
  purge: "<file_id>",
  usage: "",
  versions: "<file_id>",
  token: "<user>",
  sync: "<dir>",
};

/** The single positional argument a command takes ("" for ls, which takes none). */
function onePositional(command: keyof typeof POSITIONAL_NAMES, positionals: string[]): string {
  const expected = POSITIONAL_NAMES[command];
  if (expected === "") {
    if (positionals.length > 0) throw usageError(`${command}: unexpected argument "${positionals[0]}"`);
    return "";
  }
  if (positionals.length === 0 || positionals[0] === "") throw usageError(`${command}: ${expected} is required`);
  if (positionals.length > 1) throw usageError(`${command}: unexpected argument "${positionals[1]}"`);
  return positionals[0]!;
}

function integer(raw: string | undefined, option: string, max: number, min = 0): number | undefined {
  if (raw === undefined) return undefined;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw usageError(`${option} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}
