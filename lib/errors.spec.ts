import { Metadata, status } from "@grpc/grpc-js";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { CfsError, dataLoss, fromGrpcError, invalidArgument, notFound, toGrpcError, unauthenticated } from "./errors.js";

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

  it("hides unknown errors behind INTERNAL and logs the cause", () => {
    const lines: string[] = [];
    const log = pino({ level: "error" }, { write: (l: string) => lines.push(l) });
    const mapped = toGrpcError(new Error("password=hunter2 at /srv/db"), log);
    expect(mapped).toEqual({ code: status.INTERNAL, details: "internal error" });
    expect(lines.join("")).toContain("hunter2");
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
