import { displayName } from "#lib/display-name.js";
import { parseCommand, type Command } from "./args.js";
import { deleteFile, getUsage, listFiles, listTrash, listVersions, moveFile, purgeFile, restoreVersion, setQuota, undeleteFile } from "./catalogue.js";
import { describeFailure, ExitCode } from "./errors.js";
import { appPasswordsTable, filesTable, toJson, trashTable, usageLine, versionsTable } from "./format.js";
import { get } from "./get.js";
import { createProgress } from "./progress.js";
import { put, transferSummary } from "./put.js";
import { UploadState } from "./transfer/upload-state.js";
import { Connection, settingsFrom, type Settings } from "./rpc.js";
import { sync } from "./sync/index.js";
import { devToken } from "./token.js";

/** Runs one command; output goes to stdout, progress and errors to stderr. */
async function run(command: Command, settings: Settings, signal: AbortSignal): Promise<void> {
  const out = (text: string) => process.stdout.write(text);
  if (command.kind === "help") return void out(command.text);
  if (command.kind === "token") return void out(`${await devToken(settings.devIssuerUrl, command.user, signal)}\n`);

  const conn = new Connection(settings, signal);
  try {
    switch (command.kind) {
      case "put": {
        const show = command.progress || process.stderr.isTTY;
        const outcome = await put(conn, command, (label, total) => createProgress(show, process.stderr, label, total), UploadState.fromEnv(process.env));
        if (show) process.stderr.write(`${transferSummary(outcome)}\n`);
        out(toJson(outcome.file));
        return;
      }
      case "get": {
        const show = command.progress || process.stderr.isTTY;
        await get(conn, command, (label) => createProgress(show, process.stderr, label), process.stdout);
        return;
      }
      case "ls": {
        const list = await listFiles(conn, command);
        if (command.json) return void out(toJson(list));
        out(filesTable(list.files));
        if (list.nextPageToken) process.stderr.write(`more files: add --all, or --page-token ${list.nextPageToken}\n`);
        return;
      }
      case "versions": {
        const versions = await listVersions(conn, command.fileId);
        out(command.json ? toJson({ versions }) : versionsTable(versions));
        return;
      }
      case "rm":
        await deleteFile(conn, command.fileId);
        return;
      case "mv": {
        const file = await moveFile(conn, command.fileId, command.newName);
        return void out(command.json ? toJson(file) : `${displayName(file.name)}\n`);
      }
      case "restore": {
        const file = await restoreVersion(conn, command.fileId, command.version);
        return void out(command.json ? toJson(file) : `${displayName(file.name)}: version ${command.version} is now version ${file.version}\n`);
      }
      case "trash": {
        const list = await listTrash(conn, command.all);
        if (command.json) return void out(toJson(list));
        out(trashTable(list.files));
        if (list.nextPageToken) process.stderr.write("more files in the trash: add --all\n");
        return;
      }
      case "undelete": {
        const file = await undeleteFile(conn, command.fileId);
        return void out(command.json ? toJson(file) : `${displayName(file.name)}\n`);
      }
      case "purge":
        await purgeFile(conn, command.fileId);
        return;
      case "usage": {
        const usage = await getUsage(conn);
        return void out(command.json ? toJson(usage) : usageLine(usage));
      }
      case "quota":
        await setQuota(conn, command.owner, command.quotaBytes);
        return;
      case "app-password": {
        const client = conn.appPasswords;
        if (command.action === "create") {
          const created = await conn.unary(client.createAppPassword.bind(client), { label: command.label });
          if (command.json) return void out(toJson(created));
          out(`user name: ${created.username}\npassword:  ${created.secret}\nid:        ${created.id}\n`);
          process.stderr.write("The password is shown this once: store it in the client now.\n");
          return;
        }
        if (command.action === "list") {
          const { appPasswords } = await conn.unary(client.listAppPasswords.bind(client), {});
          return void out(command.json ? toJson({ appPasswords }) : appPasswordsTable(appPasswords));
        }
        await conn.unary(client.revokeAppPassword.bind(client), { id: command.id });
        return;
      }
      case "sync":
        await sync(conn, settings.token ?? "", command, (line) => out(`${line}\n`), (line) => process.stderr.write(`${line}\n`));
        return;
    }
  } finally {
    conn.close();
  }
}

function main(): void {
  // Ctrl-C (or SIGTERM, how services stop a running cfs sync) cancels the
  // calls in flight (a partial download is removed); a second one stops at once.
  const interrupt = new AbortController();
  const onInterrupt = () => {
    if (interrupt.signal.aborted) process.exit(ExitCode.interrupted);
    interrupt.abort();
  };
  process.on("SIGINT", onInterrupt);
  process.on("SIGTERM", onInterrupt);
  // EPIPE: the reader went away (`| head`) and nobody wants the rest.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    process.exit(err.code === "EPIPE" ? ExitCode.brokenPipe : ExitCode.unexpected);
  });

  let command: Command;
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (err) {
    fail(err);
    return;
  }
  run(command, settingsFrom(process.env), interrupt.signal).then(
    () => (process.exitCode = ExitCode.ok),
    fail,
  );
}

function fail(err: unknown): void {
  const { exitCode, message } = describeFailure(err);
  process.stderr.write(`cfs: ${exitCode === ExitCode.interrupted ? "interrupted" : message}\n`);
  // Unexpected errors may be bugs: CFS_DEBUG=1 shows where they came from.
  if (exitCode === ExitCode.unexpected && process.env.CFS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exitCode = exitCode;
}

main();
