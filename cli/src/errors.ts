import { status as GrpcStatus } from "@grpc/grpc-js";
import { isServiceError } from "#lib/errors.js";

/** Exit codes scripts can rely on; `cfs --help` documents them. */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  notFound: 3,
  denied: 4,
  invalidArgument: 5,
  integrity: 6,
  unavailable: 7,
  /** ALREADY_EXISTS: another file has the name (mv, undelete). */
  nameTaken: 8,
  /** RESOURCE_EXHAUSTED: over the quota (or a message over the size limit). */
  quota: 9,
  /** 128 + SIGINT, as shells report a process stopped by Ctrl-C. */
  interrupted: 130,
  /** 128 + SIGPIPE, as shells report other tools whose reader went away (`| head`). */
  brokenPipe: 141,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI detected itself, with the exit code it stands for. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
  }
}

export const usageError = (message: string) => new CliError(ExitCode.usage, message);
export const integrityError = (message: string) => new CliError(ExitCode.integrity, message);

/** The exit code of a gRPC status; the one place status codes are interpreted. */
export function exitCodeForStatus(code: GrpcStatus): ExitCode {
  switch (code) {
    case GrpcStatus.OK:
      return ExitCode.ok;
    case GrpcStatus.NOT_FOUND:
      return ExitCode.notFound;
    case GrpcStatus.UNAUTHENTICATED:
    case GrpcStatus.PERMISSION_DENIED:
      return ExitCode.denied;
    // OUT_OF_RANGE: a range starting past the end of the file is a bad argument too.
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return ExitCode.invalidArgument;
    case GrpcStatus.DATA_LOSS:
      return ExitCode.integrity;
    case GrpcStatus.ALREADY_EXISTS:
      return ExitCode.nameTaken;
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return ExitCode.quota;
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
      return ExitCode.unavailable;
    // Only our own SIGINT handler cancels calls.
    case GrpcStatus.CANCELLED:
      return ExitCode.interrupted;
    default:
      return ExitCode.unexpected;
  }
}

/** Exit code and one-line message for anything a command threw. */
export function describeFailure(err: unknown): { exitCode: ExitCode; message: string } {
  if (err instanceof CliError) return { exitCode: err.exitCode, message: err.message };
  if (isServiceError(err)) {
    return { exitCode: exitCodeForStatus(err.code), message: `${GrpcStatus[err.code] ?? err.code}: ${err.details || err.message}` };
  }
  const errno = err as NodeJS.ErrnoException;
  if (errno instanceof Error && errno.code === "ENOENT") {
    return { exitCode: ExitCode.notFound, message: `no such file or directory: ${errno.path ?? ""}` };
  }
  return { exitCode: ExitCode.unexpected, message: err instanceof Error ? err.message : String(err) };
}
