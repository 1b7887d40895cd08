import { constants, createServer, type ServerHttp2Session } from "node:http2";
import { waitFor } from "./net.js";

/** A request the hung peer took and never answered. */
export interface HungRequest {
  path: string;
  /** The caller's deadline from now, from its grpc-timeout (undefined: none). */
  deadlineMs: number | undefined;
  /** Once the caller gave the stream up: its RST_STREAM code (NGHTTP2_CANCEL when cancelled or past its deadline) and when, after it arrived. */
  closed: Promise<{ code: number; afterMs: number }>;
}

export interface HungPeer {
  /** Waits for a request whose path ends with one of `methods` ("/HasChunks"). */
  request(methods: string[], timeoutMs: number): Promise<HungRequest>;
  close(): Promise<void>;
}

/**
 * A gRPC peer that is up (it takes connections and calls over HTTP/2) but
 * never answers: a service stuck on a lock, a disk, a full CPU. It binds
 * the address of the service it stands in for, so the callers' channels
 * reach it when they reconnect.
 */
export async function startHungPeer(address: string): Promise<HungPeer> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  const requests: HungRequest[] = [];
  const sessions = new Set<ServerHttp2Session>();
  const server = createServer();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    const arrived = performance.now();
    const closed = new Promise<{ code: number; afterMs: number }>((resolve) =>
      stream.once("close", () => resolve({ code: stream.rstCode ?? constants.NGHTTP2_NO_ERROR, afterMs: performance.now() - arrived })),
    );
    stream.on("data", () => undefined);
    requests.push({ path: String(headers[":path"]), deadlineMs: grpcTimeoutMs(headers["grpc-timeout"]), closed });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    async request(methods, timeoutMs) {
      let found: HungRequest | undefined;
      await waitFor(
        async () => (found = requests.find((r) => methods.some((m) => r.path.endsWith(m)))) !== undefined,
        timeoutMs,
        `a call of ${methods.join(" or ")} at the hung peer on ${address}`,
      );
      return found!;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      await closed;
    },
  };
}

const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** A grpc-timeout header ("29999m") in milliseconds. */
function grpcTimeoutMs(header: string | string[] | undefined): number | undefined {
  const match = typeof header === "string" ? /^(\d{1,8})([HMSmun])$/.exec(header) : null;
  return match ? Number(match[1]) * TIMEOUT_UNIT_MS[match[2]!]! : undefined;
}
