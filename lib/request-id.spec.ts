import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { requestIdOf } from "./request-id.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function metadata(...ids: string[]): Metadata {
  const md = new Metadata();
  for (const id of ids) md.add("x-request-id", id);
  return md;
}

describe("requestIdOf", () => {
  it("keeps the caller's well-formed id", () => {
    expect(requestIdOf(metadata("req-1:edge.2"))).toBe("req-1:edge.2");
  });

  it("generates a fresh one when none came", () => {
    const a = requestIdOf(metadata());
    expect(a).toMatch(UUID);
    expect(requestIdOf(metadata())).not.toBe(a);
  });

  it.each([["has space"], ["semi;colon"], ["x".repeat(129)], [""], ['{"json":1}']])("replaces a malformed id %j", (id) => {
    expect(requestIdOf(metadata(id))).toMatch(UUID);
  });

  it("replaces an ambiguous pair of ids instead of picking one", () => {
    expect(requestIdOf(metadata("a", "b"))).toMatch(UUID);
  });
});
