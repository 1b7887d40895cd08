import { status as GrpcStatus, Metadata, type ServiceError } from "@grpc/grpc-js";
import type { Logger } from "pino";

/**
 * Domain error kinds. Domain code throws these and knows nothing of gRPC;
 * `toGrpcError` is the one place that maps them to status codes.
 */
export type ErrorKind =
  | "invalid-argument"
  | "not-found"
  | "already-exists"
  | "unauthenticated"
  | "permission-denied"
  | "failed-precondition"
  | "out-of-range"
  | "resource-exhausted"
  | "data-loss"
  | "unavailable"
  | "deadline-exceeded"
  | "cancelled";

export class CfsError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CfsError";
  }
}

export const invalidArgument = (msg: string) => new CfsError("invalid-argument", msg);
export const notFound = (msg: string) => new CfsError("not-found", msg);
export const alreadyExists = (msg: string) => new CfsError("already-exists", msg);
export const unauthenticated = (msg: string) => new CfsError("unauthenticated", msg);
export const permissionDenied = (msg: string) => new CfsError("permission-denied", msg);
export const dataLoss = (msg: string) => new CfsError("data-loss", msg);
export const outOfRange = (msg: string) => new CfsError("out-of-range", msg);
export const resourceExhausted = (msg: string) => new CfsError("resource-exhausted", msg);
export const failedPrecondition = (msg: string) => new CfsError("failed-precondition", msg);
export const cancelled = (msg: string) => new CfsError("cancelled", msg);
export const unavailable = (msg: string, cause?: unknown) => new CfsError("unavailable", msg, { cause });

/**
 * The same error with `context` leading its message ("files[3]: …"): which
 * item of a batch it is about. Anything that is not a CfsError passes as is.
 */
export function inContext(err: unknown, context: string): unknown {
  return err instanceof CfsError ? new CfsError(err.kind, `${context}: ${err.message}`, { cause: err.cause }) : err;
}

const kindToStatus: Record<ErrorKind, GrpcStatus> = {
  "invalid-argument": GrpcStatus.INVALID_ARGUMENT,
  "not-found": GrpcStatus.NOT_FOUND,
  "already-exists": GrpcStatus.ALREADY_EXISTS,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  "permission-denied": GrpcStatus.PERMISSION_DENIED,
  "failed-precondition": GrpcStatus.FAILED_PRECONDITION,
  "out-of-range": GrpcStatus.OUT_OF_RANGE,
  "resource-exhausted": GrpcStatus.RESOURCE_EXHAUSTED,
  "data-loss": GrpcStatus.DATA_LOSS,
  unavailable: GrpcStatus.UNAVAILABLE,
  "deadline-exceeded": GrpcStatus.DEADLINE_EXCEEDED,
  cancelled: GrpcStatus.CANCELLED,
};

const statusToKind = new Map<GrpcStatus, ErrorKind>(
  Object.entries(kindToStatus).map(([kind, code]) => [code, kind as ErrorKind]),
);

export interface GrpcErrorDetails {
  code: GrpcStatus;
  details: string;
  metadata?: Metadata;
}

/**
 * Kinds that say something broke on our side or below it (a peer, the
 * database, the disk): the error and its cause chain are logged with the
 * call, since the status sent carries only the message.
 */
const LOGGED_KINDS: Partial<Record<ErrorKind, "warn" | "error">> = {
  unavailable: "warn",
  "data-loss": "error",
};

/**
 * Maps any thrown value to the status sent to the client. Domain errors keep
 * their message (never their cause); anything else is INTERNAL with a
 * generic message. The cause of every UNAVAILABLE, DATA_LOSS and INTERNAL is
 * logged, never sent: it may hold paths, SQL, addresses or secrets.
 */
export function toGrpcError(err: unknown, log?: Logger): GrpcErrorDetails {
  if (err instanceof CfsError) {
    const level = LOGGED_KINDS[err.kind];
    if (level) log?.[level]({ err }, `${err.kind}: ${err.message}`);
    return { code: kindToStatus[err.kind], details: err.message };
  }
  log?.error({ err }, "internal error");
  return { code: GrpcStatus.INTERNAL, details: "internal error" };
}

/** What to say of anything thrown: an Error's message, or the value as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number" && "details" in err;
}

/**
 * Turns the error of a call to another cfs service into a domain error, so a
 * NOT_FOUND or DATA_LOSS downstream reaches the client unchanged while
 * INTERNAL (or an unknown code) stays opaque.
 */
export function fromGrpcError(err: unknown, what: string): unknown {
  if (!isServiceError(err)) return err;
  const kind = statusToKind.get(err.code);
  if (kind === undefined || err.code === GrpcStatus.INTERNAL || err.code === GrpcStatus.UNKNOWN) {
    return new Error(`${what}: ${err.code} ${err.details}`, { cause: err });
  }
  return new CfsError(kind, err.details, { cause: err });
}
