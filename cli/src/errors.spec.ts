import { Metadata, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { CliError, describeFailure, ExitCode, exitCodeForStatus, integrityError, usageError } from "./errors.js";

function serviceError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

describe("exitCodeForStatus", () => {
  it.each<[status, ExitCode]>([
    [status.OK, ExitCode.ok],
    [status.NOT_FOUND, ExitCode.notFound],
    [status.UNAUTHENTICATED, ExitCode.denied],
    [status.PERMISSION_DENIED, ExitCode.denied],
    [status.INVALID_ARGUMENT, ExitCode.invalidArgument],
    [status.OUT_OF_RANGE, ExitCode.invalidArgument],
    [status.DATA_LOSS, ExitCode.integrity],
    [status.UNAVAILABLE, ExitCode.unavailable],
    [status.DEADLINE_EXCEEDED, ExitCode.unavailable],
    [status.CANCELLED, ExitCode.interrupted],
    [status.INTERNAL, ExitCode.unexpected],
    [status.UNKNOWN, ExitCode.unexpected],
    [status.ALREADY_EXISTS, ExitCode.nameTaken],
    [status.FAILED_PRECONDITION, ExitCode.unexpected],
    [status.RESOURCE_EXHAUSTED, ExitCode.quota],
    [status.UNIMPLEMENTED, ExitCode.unexpected],
  ])("maps status %i to exit code %i", (code, exitCode) => {
    expect(exitCodeForStatus(code)).toBe(exitCode);
  });

  it("uses the documented numbers", () => {
    expect(ExitCode).toEqual({
      ok: 0,
      unexpected: 1,
      usage: 2,
      notFound: 3,
      denied: 4,
      invalidArgument: 5,
      integrity: 6,
      unavailable: 7,
      nameTaken: 8,
      quota: 9,
      interrupted: 130,
      brokenPipe: 141,
    });
  });
});

describe("describeFailure", () => {
  it("reports a gRPC failure by status name and details", () => {
    expect(describeFailure(serviceError(status.NOT_FOUND, "file not found"))).toEqual({
      exitCode: ExitCode.notFound,
      message: "NOT_FOUND: file not found",
    });
  });

  it("keeps the exit code of errors the CLI raised", () => {
    expect(describeFailure(usageError("bad"))).toEqual({ exitCode: ExitCode.usage, message: "bad" });
    expect(describeFailure(integrityError("hash mismatch")).exitCode).toBe(ExitCode.integrity);
    expect(describeFailure(new CliError(ExitCode.unavailable, "down")).exitCode).toBe(ExitCode.unavailable);
  });

  it("treats a missing local file as not found", () => {
    const enoent = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT", path: "/nope" });
    expect(describeFailure(enoent)).toEqual({ exitCode: ExitCode.notFound, message: "no such file or directory: /nope" });
  });

  it("calls anything else unexpected", () => {
    expect(describeFailure(new Error("boom"))).toEqual({ exitCode: ExitCode.unexpected, message: "boom" });
    expect(describeFailure("weird")).toEqual({ exitCode: ExitCode.unexpected, message: "weird" });
  });
});
