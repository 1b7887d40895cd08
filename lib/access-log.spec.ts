import { status } from "@grpc/grpc-js";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { logRpc } from "./access-log.js";

describe("logRpc", () => {
  it("writes one line with the status name and the duration in ms, on the call's logger", () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    logRpc(log.child({ requestId: "r-1", method: "ChunkerService/UploadFile" }), status.NOT_FOUND, 0.0126);
    expect(lines).toEqual([
      expect.objectContaining({ level: 30, msg: "rpc", requestId: "r-1", method: "ChunkerService/UploadFile", code: "NOT_FOUND", ms: 13 }),
    ]);
  });
});
