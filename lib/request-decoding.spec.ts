import { describe, expect, it } from "vitest";
import { CfsError } from "./errors.js";
import { decoded, decodedEach, tolerateUndecodable, UndecodableRequest } from "./request-decoding.js";

const codec = tolerateUndecodable({
  requestDeserialize: (bytes: Buffer) => {
    if (bytes.length === 0) throw new Error("Value is larger than Number.MAX_SAFE_INTEGER");
    return bytes.toString();
  },
  other: 1,
});

describe("request decoding", () => {
  it("passes decodable messages and keeps the rest of the codec", () => {
    expect(codec.requestDeserialize(Buffer.from("hi"))).toBe("hi");
    expect(codec.other).toBe(1);
    expect(decoded(codec.requestDeserialize(Buffer.from("hi")))).toBe("hi");
  });

  it("turns a decoder failure into INVALID_ARGUMENT at the handler step, not a throw in grpc-js", () => {
    const message = codec.requestDeserialize(Buffer.alloc(0));
    expect(message).toBeInstanceOf(UndecodableRequest);
    let error: unknown;
    try {
      decoded(message);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CfsError);
    expect((error as CfsError).kind).toBe("invalid-argument");
    expect((error as CfsError).message).toContain("MAX_SAFE_INTEGER");
  });

  it("fails a request stream at its first undecodable message", async () => {
    async function* stream() {
      yield "a";
      yield new UndecodableRequest("bad int64");
      yield "never";
    }
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const m of decodedEach(stream())) seen.push(m);
      })(),
    ).rejects.toThrow(/bad int64/);
    expect(seen).toEqual(["a"]);
  });
});
