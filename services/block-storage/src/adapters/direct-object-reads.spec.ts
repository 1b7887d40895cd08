import { randomBytes } from "node:crypto";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DirectObjectReads } from "./direct-object-reads.js";

/** What the scripted server does with one request on a connection (the n-th of that connection, counting from 0). */
type Answer = (request: string, socket: net.Socket, n: number) => void;

/** A real TCP server on loopback that answers each request as the test scripts it. */
async function scriptedServer(answer: Answer) {
  const requests: string[] = [];
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    let pending = "";
    let n = 0;
    socket.on("data", (data) => {
      pending += data.toString("latin1");
      for (let end = pending.indexOf("\r\n\r\n"); end >= 0; end = pending.indexOf("\r\n\r\n")) {
        const request = pending.slice(0, end);
        pending = pending.slice(end + 4);
        requests.push(request);
        answer(request, socket, n++);
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  servers.push(server);
  return { port, requests, connections: () => connections };
}

const servers: net.Server[] = [];
const readers: DirectObjectReads[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

function readsFrom(port: number, options: { maxSockets?: number; idleTimeoutMs?: number } = {}) {
  const reads = new DirectObjectReads({ host: "127.0.0.1", port, maxSockets: options.maxSockets ?? 4, idleTimeoutMs: options.idleTimeoutMs ?? 10_000 });
  readers.push(reads);
  return reads;
}

/** Writes `bytes` in pieces of the given sizes, one per turn of the event loop. */
function inPieces(socket: net.Socket, bytes: Buffer, sizes: readonly number[]): void {
  let at = 0;
  let i = 0;
  const next = () => {
    if (at >= bytes.length || socket.destroyed) return;
    const size = sizes[i++ % sizes.length]!;
    socket.write(bytes.subarray(at, at + size));
    at += size;
    setImmediate(next);
  };
  next();
}

const answerWith = (status: string, body: Buffer, headers: Record<string, string> = {}) =>
  Buffer.concat([
    Buffer.from(
      `HTTP/1.1 ${status}\r\n${Object.entries({ "Content-Length": String(body.length), ...headers })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("")}\r\n`,
      "latin1",
    ),
    body,
  ]);

const tooLong = () => new Error("too long");
/** A 206 whose body is cut into chunks of `sizes`. */
const expecting = (sizes: readonly number[]) => ({ status: 206, sizes: () => sizes, allocate, tooLong });
const allocations: number[] = [];
const allocate = (size: number) => {
  allocations.push(size);
  return Buffer.alloc(size);
};

describe("DirectObjectReads", () => {
  it("reads a ranged answer's body into one buffer per chunk, whatever pieces it arrives in, and sends the path, Host and Range", async () => {
    const sizes = [5, 70_000, 3, 0, 1];
    const body = randomBytes(sizes.reduce((a, b) => a + b, 0));
    const server = await scriptedServer((_request, socket) => inPieces(socket, answerWith("206 Partial Content", body), [7, 13, 1, 40_000, 65_536]));
    allocations.length = 0;
    const answer = await readsFrom(server.port).get("/bucket/packs/ab/x?sig=1", "store:9000", { range: "bytes=10-70018" }, expecting(sizes));
    expect(answer.status).toBe(206);
    expect(Buffer.concat(answer.chunks!)).toEqual(body);
    expect(answer.chunks!.map((c) => c.length)).toEqual(sizes);
    expect(allocations).toEqual(sizes);
    expect(server.requests[0]!.split("\r\n")).toEqual(["GET /bucket/packs/ab/x?sig=1 HTTP/1.1", "Host: store:9000", "range: bytes=10-70018"]);
  });

  it("keeps the connection for the next request, one request at a time, and waits for one when all are busy", async () => {
    const server = await scriptedServer((_request, socket) => socket.write(answerWith("206 Partial Content", Buffer.from("abcd"))));
    const reads = readsFrom(server.port, { maxSockets: 1 });
    const get = () => reads.get("/b/k", "h", {}, expecting([4]));
    const answers = await Promise.all([get(), get(), get()]);
    expect((await get()).chunks!.map(String)).toEqual(["abcd"]);
    expect(answers.map((a) => a.chunks!.map(String))).toEqual([["abcd"], ["abcd"], ["abcd"]]);
    expect(server.connections()).toBe(1);
  });

  it("gives the chunks a short body filled, and fails a body longer than asked", async () => {
    const server = await scriptedServer((request, socket) =>
      socket.write(answerWith("206 Partial Content", request.includes("short") ? Buffer.from("abcdef") : Buffer.from("abcdefghijk"))),
    );
    const reads = readsFrom(server.port);
    const short = await reads.get("/b/short", "h", {}, expecting([4, 4, 2]));
    expect(short.chunks!.map(String)).toEqual(["abcd"]);
    await expect(reads.get("/b/long", "h", {}, expecting([4, 4, 2]))).rejects.toThrow("too long");
  });

  it("gives another status with its short body and keeps the connection; closes it after Connection: close or a body of unknown length", async () => {
    const server = await scriptedServer((request, socket) => {
      if (request.includes("missing")) socket.write(answerWith("404 Not Found", Buffer.from("<Error><Code>NoSuchKey</Code></Error>")));
      else if (request.includes("closing")) socket.write(answerWith("206 Partial Content", Buffer.from("ok"), { Connection: "close" }));
      else socket.write("HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nSlow!\r\n0\r\n\r\n");
    });
    const reads = readsFrom(server.port);
    const missing = await reads.get("/b/missing", "h", {}, expecting([4]));
    expect(missing).toEqual({ status: 404, errorBody: Buffer.from("<Error><Code>NoSuchKey</Code></Error>") });
    expect((await reads.get("/b/closing", "h", {}, expecting([2]))).chunks!.map(String)).toEqual(["ok"]);
    expect(server.connections()).toBe(1);
    expect((await reads.get("/b/busy", "h", {}, expecting([2]))).status).toBe(503);
    expect(server.connections()).toBe(2);
    expect((await reads.get("/b/missing", "h", {}, expecting([2]))).status).toBe(404);
    expect(server.connections()).toBe(3);
  });

  it("reads a whole object into the one chunk its Content-Length sizes, and refuses one its sizes refuse, closing the connection", async () => {
    const server = await scriptedServer((request, socket) => socket.write(answerWith("200 OK", request.includes("huge") ? Buffer.alloc(100) : Buffer.from("chunk"))));
    const reads = readsFrom(server.port);
    const whole = (path: string) =>
      reads.get(path, "h", {}, {
        status: 200,
        sizes: (length) => {
          if (length > 64) throw new Error(`${length} bytes: larger than any chunk`);
          return [length];
        },
        allocate,
        tooLong,
      });
    expect((await whole("/b/chunk")).chunks!.map(String)).toEqual(["chunk"]);
    await expect(whole("/b/huge")).rejects.toThrow("100 bytes: larger than any chunk");
    expect((await whole("/b/chunk")).chunks!.map(String)).toEqual(["chunk"]);
    expect(server.connections()).toBe(2);
  });

  it("refuses a ranged answer without a Content-Length", async () => {
    const server = await scriptedServer((_request, socket) => socket.write("HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"));
    await expect(readsFrom(server.port).get("/b/k", "h", {}, expecting([2]))).rejects.toThrow("without a Content-Length");
  });

  it("asks again on a new connection when the server had closed a kept one, and only then", async () => {
    // The second request on a connection finds it closed (the server's idle timeout came first).
    const server = await scriptedServer((_request, socket, n) => (n === 0 ? socket.write(answerWith("206 Partial Content", Buffer.from("ok"))) : socket.destroy()));
    const reads = readsFrom(server.port);
    const get = () => reads.get("/b/k", "h", {}, expecting([2]));
    expect((await get()).chunks!.map(String)).toEqual(["ok"]);
    expect((await get()).chunks!.map(String)).toEqual(["ok"]);
    expect(server.connections()).toBe(2);
    // A connection that fails mid-answer is not asked again: the failure is the caller's.
    const cut = await scriptedServer((_request, socket) => {
      socket.write("HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\n\r\nabc");
      setImmediate(() => socket.destroy());
    });
    await expect(readsFrom(cut.port).get("/b/k", "h", {}, expecting([10]))).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(cut.connections()).toBe(1);
  });

  it("fails with the socket's code when nothing listens, and with ETIMEDOUT when the server stops answering", async () => {
    const closed = await scriptedServer(() => {});
    const { port } = closed;
    await new Promise((resolve) => servers.pop()!.close(resolve));
    await expect(readsFrom(port).get("/b/k", "h", {}, expecting([2]))).rejects.toMatchObject({ code: "ECONNREFUSED" });
    const silent = await scriptedServer(() => {});
    await expect(readsFrom(silent.port, { idleTimeoutMs: 200 }).get("/b/k", "h", {}, expecting([2]))).rejects.toMatchObject({ code: "ETIMEDOUT" });
  });

  it("refuses an answer that is not HTTP, or whose head never ends", async () => {
    const server = await scriptedServer((request, socket) =>
      request.includes("garbage") ? socket.write("SSH-2.0-OpenSSH\r\n\r\n") : inPieces(socket, Buffer.alloc(20_000, "a"), [4096]),
    );
    const reads = readsFrom(server.port);
    await expect(reads.get("/b/garbage", "h", {}, expecting([2]))).rejects.toThrow("no HTTP status line");
    await expect(reads.get("/b/endless", "h", {}, expecting([2]))).rejects.toThrow("head over");
  });
});
