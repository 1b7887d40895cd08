import { Metadata, status } from "@grpc/grpc-js";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { CfsError, dataLoss, fromGrpcError, invalidArgument, notFound, toGrpcError, unauthenticated, unavailable } from "./errors.js";

describe("toGrpcError", () => {
  it.each([
    [invalidArgument("bad"), status.INVALID_ARGUMENT],
    [notFound("nope"), status.NOT_FOUND],
    [unauthenticated("who"), status.UNAUTHENTICATED],
    [dataLoss("flip"), status.DATA_LOSS],
    [new CfsError("failed-precondition", "x"), status.FAILED_PRECONDITION],
    [new CfsError("resource-exhausted", "x"), status.RESOURCE_EXHAUSTED],
  ])("maps %o to its status and keeps the message", (err, code) => {
    expect(toGrpcError(err)).toEqual({ code, details: err.message });
  });

  /** A pino logger writing into an array: what an operator would read. */
  function capturedLog() {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    return { log, lines, text: () => JSON.stringify(lines) };
  }

  it("hides unknown errors behind INTERNAL and logs the cause", () => {
    const { log, lines, text } = capturedLog();
    const mapped = toGrpcError(new Error("password=hunter2 at /srv/db"), log);
    expect(mapped).toEqual({ code: status.INTERNAL, details: "internal error" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, msg: "internal error" });
    expect(text()).toContain("hunter2");
  });

  it("logs the cause chain of UNAVAILABLE and DATA_LOSS, and sends only the message", () => {
    const { log, lines, text } = capturedLog();
    const down = unavailable("block storage is unavailable", new Error("connect ECONNREFUSED 10.0.0.7:8003"));
    expect(toGrpcError(down, log)).toEqual({ code: status.UNAVAILABLE, details: "block storage is unavailable" });
    const corrupt = new CfsError("data-loss", "chunk ab12 failed verification", { cause: new Error("read /srv/blocks/ab/ab12: sha256 mismatch") });
    expect(toGrpcError(corrupt, log)).toEqual({ code: status.DATA_LOSS, details: "chunk ab12 failed verification" });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, "unavailable: block storage is unavailable"],
      [50, "data-loss: chunk ab12 failed verification"],
    ]);
    expect(text()).toContain("ECONNREFUSED 10.0.0.7:8003");
    expect(text()).toContain("/srv/blocks/ab/ab12: sha256 mismatch");
  });

  it("does not log what the client caused", () => {
    const { log, lines } = capturedLog();
    toGrpcError(invalidArgument("bad name"), log);
    toGrpcError(notFound("file not found"), log);
    toGrpcError(new CfsError("cancelled", "call cancelled by the client"), log);
    expect(lines).toEqual([]);
  });
});

describe("fromGrpcError", () => {
  const serviceError = (code: status, details: string) =>
    Object.assign(new Error(details), { code, details, metadata: new Metadata() });

  it("keeps meaningful downstream codes", () => {
    expect(fromGrpcError(serviceError(status.NOT_FOUND, "file not found"), "x")).toMatchObject({ kind: "not-found", message: "file not found" });
    expect(fromGrpcError(serviceError(status.DATA_LOSS, "chunk corrupt"), "x")).toMatchObject({ kind: "data-loss" });
  });

  it("keeps downstream INTERNAL opaque", () => {
    const err = fromGrpcError(serviceError(status.INTERNAL, "internal error"), "metadata GetFile");
    expect(err).not.toBeInstanceOf(CfsError);
    expect(toGrpcError(err).code).toBe(status.INTERNAL);
  });
});
