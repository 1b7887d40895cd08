import { status as GrpcStatus } from "@grpc/grpc-js";
import type { Logger } from "pino";

/**
 * The one access-log line of a call: its status name and duration. The
 * logger already carries the request id, method and (once authenticated)
 * subject, so a line joins up with everything else logged for the call.
 */
export function logRpc(log: Logger, code: GrpcStatus, seconds: number): void {
  log.info({ code: GrpcStatus[code], ms: Math.round(seconds * 1000) }, "rpc");
}
