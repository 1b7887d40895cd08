import * as net from "node:net";

/**
 * GETs of chunk bytes from the object store (a pack's run by its range, a
 * loose chunk whole) over plain HTTP/1.1 whose bodies the kernel reads
 * straight into the chunk buffers (net.Socket's `onread`): no byte is
 * copied on its way in, nor cut into a fresh Buffer per socket read first. node:http's client allocates and fills one Buffer
 * per piece of a body and the caller copies each into its chunk; measured
 * here on 4 MiB ranged GETs from MinIO in one client process, that cost
 * 2.7–3.2 CPU-s per GiB against 0.85–0.97 for this path.
 *
 * It speaks only what a GET of an S3 object needs: a request line, Host
 * and Range; an answer with a Content-Length (an S3 server gives one to
 * every GET of an object; an expected answer without one is refused, and
 * its connection closed). Connections are kept alive and reused one request at
 * a time; a reused one that the server closed meanwhile is retried once on
 * a new connection before anything of the answer arrived (a GET is
 * idempotent). Every other request to the store stays on node:http.
 */
export interface DirectReadsOptions {
  /** Where the store listens (plain HTTP). */
  host: string;
  port: number;
  /** Connections open at once; further requests wait for one. */
  maxSockets: number;
  /** A connection that receives nothing for this long fails its request (ETIMEDOUT). */
  idleTimeoutMs: number;
  /** A kept connection unused for this long is closed (servers close theirs after a while too). */
  keepIdleMs?: number;
}

/**
 * What a GET answered: for the expected status, the chunks the body filled
 * completely, in order; for any other, its body when it was at most
 * MAX_ERROR_BODY_BYTES, else empty.
 */
export type DirectAnswer = { status: number; chunks: Buffer[] } | { status: number; chunks?: undefined; errorBody: Buffer };

/** An answer's head (status line and headers) must fit this; S3's are well under a kilobyte. */
const MAX_HEAD_BYTES = 16 * 1024;
/** An error answer is a short XML document; a longer body is not read (its connection is closed). */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const DEFAULT_KEEP_IDLE_MS = 4_000;
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");

/** The answer a GET expects, and how its body is cut into chunks. */
export interface ExpectedBody {
  /** The status whose body is read into chunks (206 for a range, 200 for a whole object). */
  status: number;
  /** The chunks' sizes, back to back, given the answer's Content-Length; throwing refuses the answer. */
  sizes(contentLength: number): readonly number[];
  /** A buffer for one chunk (block storage's allocator, with headroom for the reply). */
  allocate(size: number): Buffer;
  /** The error for a body longer than the chunks' sizes add up to. */
  tooLong(): Error;
}

/** One request in flight on a connection: where the next bytes go and what happens when they arrive. */
interface Reader {
  /** The buffer the next socket read fills. */
  target(): Buffer;
  /** `n` bytes were read into the buffer target() gave. */
  received(n: number): void;
  /** The connection ended or failed before the answer was complete. */
  failed(err: Error): void;
}

class Connection {
  readonly socket: net.Socket;
  reader: Reader | undefined;
  /** Whether an answer completed on this connection: a later request's failure before its first byte may be the server closing a kept connection. */
  reused = false;
  idleSince = 0;
  closed = false;
  /** Where an answer's head is read (and any byte read when none is expected). */
  readonly scratch = Buffer.allocUnsafe(MAX_HEAD_BYTES);

  constructor(host: string, port: number, idleTimeoutMs: number, onGone: (c: Connection) => void) {
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: () => this.reader?.target() ?? this.scratch,
        callback: (n: number) => {
          const reader = this.reader;
          if (reader) reader.received(n);
          // Bytes nobody asked for: the connection is out of step with its answers.
          else this.socket.destroy();
          return true;
        },
      },
    });
    this.socket.setTimeout(idleTimeoutMs, () =>
      this.socket.destroy(Object.assign(new Error(`object storage idle for ${idleTimeoutMs} ms`), { code: "ETIMEDOUT" })),
    );
    const gone = (err?: Error) => {
      if (this.closed) return;
      this.closed = true;
      const reader = this.reader;
      this.reader = undefined;
      onGone(this);
      reader?.failed(err ?? Object.assign(new Error("object storage closed the connection"), { code: "ECONNRESET" }));
    };
    this.socket.on("error", gone);
    this.socket.on("end", () => {
      gone();
      this.socket.destroy();
    });
    this.socket.on("close", () => gone());
  }
}

export class DirectObjectReads {
  private readonly idle: Connection[] = [];
  private open = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly keepIdleMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: DirectReadsOptions) {
    this.keepIdleMs = options.keepIdleMs ?? DEFAULT_KEEP_IDLE_MS;
    this.sweeper = setInterval(() => this.closeStale(), Math.max(this.keepIdleMs / 2, 100));
    this.sweeper.unref();
  }

  /**
   * GETs `path` (with its query) from `host` with `headers`; an answer with
   * the expected status has its body read into chunk buffers as `body`
   * says: a body shorter than their sizes add up to yields the buffers it
   * filled, a longer one fails with `body.tooLong()`.
   */
  async get(path: string, host: string, headers: Record<string, string>, body: ExpectedBody): Promise<DirectAnswer> {
    const request = Buffer.from(
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("")}\r\n`,
      "latin1",
    );
    for (;;) {
      const connection = await this.acquire();
      const { reused } = connection;
      try {
        return await this.exchange(connection, request, body);
      } catch (err) {
        // A kept connection the server had closed: nothing of this request was done; once more on a new one.
        if (reused && (err as { beforeAnswer?: boolean }).beforeAnswer === true) continue;
        throw err;
      }
    }
  }

  /** Closes every connection; requests in flight fail. */
  close(): void {
    clearInterval(this.sweeper);
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }

  private exchange(c: Connection, request: Buffer, plan: ExpectedBody): Promise<DirectAnswer> {
    const { status: expected, allocate, tooLong } = plan;
    return new Promise<DirectAnswer>((resolve, reject) => {
      if (c.closed) {
        reject(Object.assign(new Error("object storage closed the connection"), { code: "ECONNRESET", beforeAnswer: true }));
        return;
      }
      const { scratch } = c;
      let headBytes = 0;
      let status = 0;
      /** Body bytes still to come, once the head is read. */
      let remaining = -1;
      let keepAlive = true;
      // The body of an expected answer: chunk buffers, filled in turn.
      let sizes: readonly number[] = [];
      const chunks: Buffer[] = [];
      let current: Buffer | undefined;
      let filled = 0;
      // The body of another answer, when short enough to keep.
      let errorBody: Buffer | undefined;
      let errorFilled = 0;

      const finish = (err?: Error) => {
        c.reader = undefined;
        if (err) {
          c.socket.destroy();
          reject(err);
          return;
        }
        c.reused = true;
        this.release(c, keepAlive);
        resolve(status === expected ? { status, chunks } : { status, errorBody: errorBody ?? Buffer.alloc(0) });
      };
      const nextChunk = () => {
        while (current === undefined || filled === current.length) {
          if (current !== undefined) {
            chunks.push(current);
            current = undefined;
            filled = 0;
          }
          if (chunks.length >= sizes.length) return;
          current = allocate(sizes[chunks.length]!);
        }
      };
      /** Takes `n` bytes of body: copied from `from` (read with the head), or already in place in `current`. */
      const body = (from: Buffer | undefined, at: number, n: number): void => {
        remaining -= n;
        if (status === expected) {
          let left = n;
          let offset = at;
          while (left > 0) {
            nextChunk();
            if (!current) {
              finish(tooLong());
              return;
            }
            const take = Math.min(left, current.length - filled);
            if (from) from.copy(current, filled, offset, offset + take);
            filled += take;
            offset += take;
            left -= take;
          }
        } else if (errorBody) {
          from?.copy(errorBody, errorFilled, at, at + n);
          errorFilled += n;
        }
        if (remaining === 0) {
          // A chunk filled by the last bytes is complete; a partly filled one (a short body) is dropped.
          if (status === expected && current && filled === current.length) nextChunk();
          finish();
        }
      };
      const head = (): void => {
        const end = scratch.subarray(0, headBytes).indexOf(HEAD_END);
        if (end < 0) {
          if (headBytes >= MAX_HEAD_BYTES) finish(new Error(`object storage answered with a head over ${MAX_HEAD_BYTES} bytes`));
          return;
        }
        const lines = scratch.toString("latin1", 0, end).split("\r\n");
        const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
        if (!statusLine) {
          finish(new Error(`object storage answered with no HTTP status line: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`));
          return;
        }
        status = Number(statusLine[1]);
        let length: number | undefined;
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":");
          const name = line.slice(0, colon).trim().toLowerCase();
          const value = line.slice(colon + 1).trim();
          if (name === "content-length") length = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
          else if (name === "connection" && value.toLowerCase() === "close") keepAlive = false;
          else if (name === "transfer-encoding") length = NaN;
        }
        if (/^HTTP\/1\.0/.test(lines[0]!)) keepAlive = false;
        if (length === undefined || Number.isNaN(length)) {
          if (status === expected) {
            finish(new Error("object storage answered a GET of chunk bytes without a Content-Length"));
            return;
          }
          // An error answer of unknown length: its status says enough; the connection cannot be reused.
          keepAlive = false;
          remaining = 0;
          finish();
          return;
        }
        remaining = length;
        if (status === expected) {
          try {
            sizes = plan.sizes(length);
          } catch (err) {
            finish(err as Error);
            return;
          }
        } else {
          if (length <= MAX_ERROR_BODY_BYTES) errorBody = Buffer.allocUnsafe(length);
          // Not worth reading: the status is the answer, and the connection goes with the unread body.
          else keepAlive = false;
        }
        const bodyStart = end + HEAD_END.length;
        const early = headBytes - bodyStart;
        if (early > remaining) {
          finish(status === expected ? tooLong() : new Error("object storage sent more than its answer's Content-Length"));
          return;
        }
        if (remaining === 0) {
          nextChunk();
          finish();
          return;
        }
        if (status !== expected && !errorBody) {
          finish();
          return;
        }
        if (early > 0) body(scratch, bodyStart, early);
      };

      c.reader = {
        target: () => {
          if (remaining < 0) return scratch.subarray(headBytes);
          if (status === expected) {
            nextChunk();
            // Past the last chunk: a read here holds only bytes that make the body too long.
            if (!current) return scratch;
            return current.subarray(filled, Math.min(current.length, filled + remaining));
          }
          return errorBody ? errorBody.subarray(errorFilled) : scratch;
        },
        received: (n) => {
          if (remaining < 0) {
            headBytes += n;
            head();
            return;
          }
          if (status === expected && !current) {
            finish(tooLong());
            return;
          }
          body(undefined, 0, n);
        },
        failed: (err) => {
          // Every byte received so far is the head's: none means the server never began to answer.
          if (headBytes === 0) Object.assign(err, { beforeAnswer: true });
          reject(err);
        },
      };
      c.socket.write(request);
    });
  }

  private async acquire(): Promise<Connection> {
    for (;;) {
      const kept = this.idle.pop();
      if (kept) {
        if (kept.closed) continue;
        return kept;
      }
      if (this.open < this.options.maxSockets) {
        this.open += 1;
        return new Connection(this.options.host, this.options.port, this.options.idleTimeoutMs, (gone) => this.forget(gone));
      }
      await new Promise<void>((wake) => this.waiting.push(wake));
    }
  }

  private release(c: Connection, reusable: boolean): void {
    if (!reusable || c.closed) {
      c.socket.destroy();
      return;
    }
    c.idleSince = Date.now();
    this.idle.push(c);
    this.waiting.shift()?.();
  }

  private forget(c: Connection): void {
    this.open -= 1;
    const at = this.idle.indexOf(c);
    if (at >= 0) this.idle.splice(at, 1);
    this.waiting.shift()?.();
  }

  private closeStale(): void {
    const cutoff = Date.now() - this.keepIdleMs;
    for (const c of this.idle.filter((k) => k.idleSince < cutoff)) c.socket.destroy();
  }
}
