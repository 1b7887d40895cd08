import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenVerifier } from "./auth.js";
import { CfsError, unauthenticated, unavailable } from "./errors.js";
import { bindServer, createGrpcServer, service, type RequestContext, type ServiceHandlers } from "./grpc-server.js";
import { Health } from "./health.js";
import { Metrics } from "./metrics.js";

// The composed steps, end to end over loopback: a tiny service with string messages.
const text = {
  serialize: (value: string) => Buffer.from(value),
  deserialize: (bytes: Buffer) => bytes.toString(),
};
const method = <Q extends boolean, R extends boolean>(name: string, requestStream: Q, responseStream: R) => ({
  path: `/cfs.test.v1.TestService/${name}`,
  requestStream,
  responseStream,
  requestSerialize: text.serialize,
  requestDeserialize: text.deserialize,
  responseSerialize: text.serialize,
  responseDeserialize: text.deserialize,
  originalName: name,
});
const TestService = {
  echo: method("Echo", false, false),
  hang: method("Hang", false, false),
  fail: method("Fail", false, false),
  concat: method("Concat", true, false),
  count: method("Count", false, true),
} as const;

type Client = grpc.Client & {
  echo(r: string, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: string) => void): grpc.ClientUnaryCall;
  hang(r: string, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: string) => void): grpc.ClientUnaryCall;
  fail(r: string, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: string) => void): grpc.ClientUnaryCall;
  concat(md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: string) => void): grpc.ClientWritableStream<string>;
  count(r: string, md: grpc.Metadata, o: grpc.CallOptions): grpc.ClientReadableStream<string>;
};

const lines: Array<Record<string, unknown>> = [];
const seen: { ctx?: RequestContext; hanging?: string; aborted?: unknown } = {};
let server: grpc.Server;
let client: Client;

const verify: TokenVerifier = async (token) => {
  if (token !== "alice-token") throw unauthenticated("invalid token");
  return { subject: "alice", isService: false };
};

const handlers: ServiceHandlers<typeof TestService> = {
  async echo(request, ctx) {
    seen.ctx = ctx;
    return `${ctx.principal.subject}:${request}`;
  },
  async hang(_request, ctx) {
    seen.hanging = ctx.requestId;
    // Waits until the call's signal says stop (cancel or deadline), as a handler waiting on a peer would.
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    seen.aborted = ctx.signal.reason;
    return "too late";
  },
  async fail(request) {
    if (request === "down") throw unavailable("block storage is unavailable", new Error("connect ECONNREFUSED 10.1.2.3:8003"));
    if (request === "corrupt") throw new CfsError("data-loss", "chunk failed verification", { cause: new Error("sha256 of /srv/x is ff00") });
    throw new Error("SELECT secret FROM users");
  },
  async concat(requests) {
    let all = "";
    for await (const part of requests) all += part;
    return all;
  },
  async *count(request, ctx) {
    for (let i = 1; i <= Number(request); i++) yield `${i}`;
    // A long stream that only the deadline ends.
    if (request === "3") await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
  },
};

beforeAll(async () => {
  const log = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  server = createGrpcServer([service("cfs.test.v1.TestService", TestService, handlers)], {
    log,
    metrics: new Metrics("test"),
    health: new Health(["cfs.test.v1.TestService"], [], log),
    verifyToken: verify,
    maxReceiveMessageBytes: 1024 * 1024,
    flowControlWindowBytes: 1024 * 1024,
    callCaps: { unaryMs: 300, streamMs: 600 },
    requestStreamLimits: { idleMs: 200, minBytesPerSecond: 0, windowMs: 1000 },
    maxConnectionAgeMs: 300_000,
  });
  const port = await bindServer(server, "127.0.0.1", 0);
  const Constructor = grpc.makeGenericClientConstructor(TestService as unknown as grpc.ServiceDefinition, "TestService");
  client = new Constructor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
});
afterAll(() => {
  client?.close();
  server?.forceShutdown();
});

function md(token: string | undefined, requestId?: string): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token) m.set("authorization", `Bearer ${token}`);
  if (requestId) m.set("x-request-id", requestId);
  return m;
}

function unary(name: "echo" | "hang" | "fail", request: string, metadata: grpc.Metadata, options: grpc.CallOptions = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    client[name](request, metadata, options, (err, res) => (err ? reject(err) : resolve(res!))),
  );
}

const linesOf = (requestId: string) => lines.filter((l) => l.requestId === requestId);

describe("createGrpcServer", () => {
  it("authenticates, passes the caller, its request id and a deadline to the handler, and logs one access line", async () => {
    expect(await unary("echo", "hi", md("alice-token", "req-echo"))).toBe("alice:hi");
    expect(seen.ctx).toMatchObject({ principal: { subject: "alice" }, token: "alice-token", requestId: "req-echo" });
    // No client deadline: the server's cap.
    expect(seen.ctx!.deadline.getTime()).toBeGreaterThan(Date.now() - 1000);
    expect(seen.ctx!.deadline.getTime()).toBeLessThanOrEqual(Date.now() + 300);
    expect(linesOf("req-echo")).toEqual([
      expect.objectContaining({ msg: "rpc", method: "TestService/Echo", subject: "alice", code: "OK", ms: expect.any(Number) }),
    ]);
  });

  it("refuses a call without a valid token before the handler runs", async () => {
    seen.ctx = undefined;
    await expect(unary("echo", "hi", md(undefined, "req-anon"))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(unary("echo", "hi", md("forged", "req-forged"))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(seen.ctx).toBeUndefined();
    expect(linesOf("req-forged")).toEqual([expect.objectContaining({ msg: "rpc", code: "UNAUTHENTICATED" })]);
  });

  it("keeps an earlier client deadline", async () => {
    const deadline = Date.now() + 150;
    await unary("echo", "x", md("alice-token"), { deadline });
    // The wire carries a timeout, not a time: allow for the trip.
    expect(Math.abs(seen.ctx!.deadline.getTime() - deadline)).toBeLessThan(50);
  });

  it("ends a call with no client deadline at the server's cap: DEADLINE_EXCEEDED, and the handler's signal says so", async () => {
    await expect(unary("hang", "x", md("alice-token", "req-hang"))).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    expect(seen.aborted).toMatchObject({ kind: "deadline-exceeded" });
    expect(linesOf("req-hang")).toEqual([expect.objectContaining({ msg: "rpc", code: "DEADLINE_EXCEEDED" })]);
  });

  it("aborts the handler's signal when the client cancels", async () => {
    seen.aborted = undefined;
    const call = client.hang("x", md("alice-token", "req-cancel"), {}, () => undefined);
    await expect.poll(() => seen.hanging, { timeout: 2000 }).toBe("req-cancel");
    call.cancel();
    await expect.poll(() => seen.aborted, { timeout: 2000 }).toMatchObject({ kind: "cancelled" });
    await expect.poll(() => linesOf("req-cancel"), { timeout: 2000 }).toEqual([expect.objectContaining({ msg: "rpc", code: "CANCELLED" })]);
  });

  it("sends the message of UNAVAILABLE and DATA_LOSS, logs their causes, and hides anything else behind INTERNAL", async () => {
    await expect(unary("fail", "down", md("alice-token", "req-down"))).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: "block storage is unavailable",
    });
    await expect(unary("fail", "corrupt", md("alice-token", "req-corrupt"))).rejects.toMatchObject({
      code: grpc.status.DATA_LOSS,
      details: "chunk failed verification",
    });
    const internal = unary("fail", "bug", md("alice-token", "req-bug"));
    await expect(internal).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: "internal error" });
    const logged = (id: string) => JSON.stringify(linesOf(id));
    expect(logged("req-down")).toContain("ECONNREFUSED 10.1.2.3:8003");
    expect(logged("req-corrupt")).toContain("sha256 of /srv/x is ff00");
    expect(logged("req-bug")).toContain("SELECT secret FROM users");
    for (const id of ["req-down", "req-corrupt", "req-bug"]) {
      expect(linesOf(id).map((l) => l.msg)).toHaveLength(2);
    }
  });

  it("hands a client stream to the handler and answers with its result", async () => {
    const result = await new Promise<string>((resolve, reject) => {
      const call = client.concat(md("alice-token"), {}, (err, res) => (err ? reject(err) : resolve(res!)));
      call.write("ab");
      call.write("cd");
      call.end();
    });
    expect(result).toBe("abcd");
  });

  it("cuts off a client stream that goes silent: DEADLINE_EXCEEDED, saying why", async () => {
    const outcome = new Promise<string>((resolve, reject) => {
      const call = client.concat(md("alice-token"), {}, (err, res) => (err ? reject(err) : resolve(res!)));
      call.write("ab");
      // ...and nothing more, without ending the stream.
    });
    await expect(outcome).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED, details: "no data from the client for 0.2 s" });
  });

  it("streams responses, and ends a stream that outlives the server's stream cap with DEADLINE_EXCEEDED", async () => {
    const received: string[] = [];
    const outcome = await new Promise<grpc.ServiceError | "ended">((resolve) => {
      const call = client.count("3", md("alice-token", "req-count"), {});
      call.on("data", (m: string) => received.push(m));
      call.on("error", (err: grpc.ServiceError) => resolve(err));
      call.on("end", () => resolve("ended"));
    });
    expect(received).toEqual(["1", "2", "3"]);
    expect(outcome).toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
  });
});
