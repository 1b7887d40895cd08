import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { CfsError } from "./errors.js";
import { readRequests, type RequestStream } from "./request-stream.js";

/** An object-mode stream standing in for grpc-js's request stream. */
function requestStream(): PassThrough & { cancelled: boolean } {
  return Object.assign(new PassThrough({ objectMode: true }), { cancelled: false });
}

async function collect<T>(messages: AsyncIterable<T>): Promise<T[]> {
  const seen: T[] = [];
  for await (const m of messages) seen.push(m);
  return seen;
}

describe("readRequests", () => {
  it("yields the messages of a stream the client completed", async () => {
    const stream = requestStream();
    stream.write({ n: 1 });
    stream.end({ n: 2 });
    expect(await collect(readRequests(stream as RequestStream<unknown>, new AbortController().signal))).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it("fails instead of ending normally when the call was cancelled", async () => {
    const stream = requestStream();
    stream.cancelled = true;
    stream.end({ n: 1 });
    await expect(collect(readRequests(stream as RequestStream<unknown>, new AbortController().signal))).rejects.toMatchObject({ kind: "cancelled" });
  });

  it("fails with the signal's reason when it aborts mid-stream", async () => {
    const stream = requestStream();
    const abort = new AbortController();
    const reading = collect(readRequests(stream as RequestStream<unknown>, abort.signal));
    stream.write({ n: 1 });
    abort.abort(new CfsError("deadline-exceeded", "too slow"));
    await expect(reading).rejects.toMatchObject({ kind: "deadline-exceeded", message: "too slow" });
    expect(stream.destroyed).toBe(true);
  });
});
