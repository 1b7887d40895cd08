import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Metrics } from "./metrics.js";
import { countMessageBytes, countRpc, methodName } from "./rpc-metrics.js";

async function sample(metrics: Metrics, name: string): Promise<Array<{ labels: Record<string, unknown>; value: number }>> {
  const metric = metrics.registry.getSingleMetric(name);
  return metric ? ((await metric.get()).values as Array<{ labels: Record<string, unknown>; value: number }>) : [];
}

describe("methodName", () => {
  it("keeps the service's short name and the method", () => {
    expect(methodName("/cfs.chunker.v1.ChunkerService/UploadFile")).toBe("ChunkerService/UploadFile");
    expect(methodName("/Plain/Call")).toBe("Plain/Call");
  });
});

describe("countMessageBytes", () => {
  it("counts serialized bytes in and out and passes messages through unchanged", async () => {
    const metrics = new Metrics("test");
    const codec = countMessageBytes(
      { requestDeserialize: (b: Buffer) => b.toString(), responseSerialize: (v: never) => Buffer.from(String(v)) },
      "TestService/Call",
      metrics,
    );
    expect(codec.requestDeserialize(Buffer.from("hello"))).toBe("hello");
    expect(codec.requestDeserialize(Buffer.from("abc"))).toBe("abc");
    expect(codec.responseSerialize("four" as never).toString()).toBe("four");
    expect(await sample(metrics, "cfs_grpc_server_received_bytes_total")).toEqual([
      expect.objectContaining({ labels: { method: "TestService/Call" }, value: 8 }),
    ]);
    expect(await sample(metrics, "cfs_grpc_server_sent_bytes_total")).toEqual([expect.objectContaining({ value: 4 })]);
  });
});

describe("countRpc", () => {
  it("counts calls by method and status name and observes their duration", async () => {
    const metrics = new Metrics("test");
    countRpc(metrics, "TestService/Call", status.OK, 0.002);
    countRpc(metrics, "TestService/Call", status.OK, 0.003);
    countRpc(metrics, "TestService/Call", status.DEADLINE_EXCEEDED, 30);
    const handled = await sample(metrics, "cfs_grpc_server_handled_total");
    expect(handled.map((v) => [v.labels.code, v.value])).toEqual([
      ["OK", 2],
      ["DEADLINE_EXCEEDED", 1],
    ]);
    const durations = await sample(metrics, "cfs_grpc_server_handling_seconds");
    expect(durations.find((v) => (v as { metricName?: string }).metricName === "cfs_grpc_server_handling_seconds_count")?.value).toBe(3);
  });
});
