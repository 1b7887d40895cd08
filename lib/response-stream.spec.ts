import { describe, expect, it } from "vitest";
import { MAX_UNSENT_MESSAGES, writeResponses, type ResponseSink } from "./response-stream.js";

/** A call whose writes complete only when the test says so. */
function heldSink() {
  const writes: Array<{ message: unknown; complete: () => void }> = [];
  const arrivals: Array<() => void> = [];
  const sink: ResponseSink = {
    write: (message, written) => {
      writes.push({ message, complete: () => written() });
      arrivals.splice(0).forEach((wake) => wake());
      return true;
    },
  };
  /** Resolves once `n` messages were handed on. */
  const handedOn = async (n: number) => {
    while (writes.length < n) await new Promise<void>((wake) => arrivals.push(wake));
  };
  return { sink, writes, handedOn };
}

/** A handler's stream of `count` messages that says how far it got and whether it cleaned up. */
function handler(count: number) {
  const state = { asked: 0, cleanedUp: false };
  async function* messages() {
    try {
      for (let i = 0; i < count; i++) {
        state.asked += 1;
        yield `m${i}`;
      }
    } finally {
      state.cleanedUp = true;
    }
  }
  return { state, messages: messages() };
}

describe("writeResponses", () => {
  it(`asks for the next message only while fewer than ${MAX_UNSENT_MESSAGES} wait to be written`, async () => {
    const { sink, writes, handedOn } = heldSink();
    const h = handler(5);
    const done = writeResponses(sink, h.messages, new AbortController().signal);
    await handedOn(MAX_UNSENT_MESSAGES);
    // Both handed on, neither written: the handler was not asked for a third.
    expect(h.state.asked).toBe(MAX_UNSENT_MESSAGES);
    writes[0]!.complete();
    await handedOn(3);
    expect(h.state.asked).toBe(3);
    for (let i = 1; i < 5; i++) {
      await handedOn(Math.min(i + 2, 5));
      writes[i]!.complete();
    }
    await done;
    expect(writes.map((w) => w.message)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
  });

  it("stops at once when the call is aborted while a write is pending, failing with the reason, and lets the handler clean up", async () => {
    const { sink, handedOn } = heldSink();
    const h = handler(100);
    const call = new AbortController();
    const done = writeResponses(sink, h.messages, call.signal);
    await handedOn(MAX_UNSENT_MESSAGES);
    call.abort(new Error("client went away"));
    await expect(done).rejects.toThrow("client went away");
    await expect.poll(() => h.state.cleanedUp).toBe(true);
    expect(h.state.asked).toBe(MAX_UNSENT_MESSAGES);
  });
});
