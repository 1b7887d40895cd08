import { createServer, type Server } from "node:http";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The Prometheus registry of a process and the RPC metrics every service exports. */
export class Metrics {
  readonly registry = new Registry();
  readonly rpcsHandled: Counter<"method" | "code">;
  readonly rpcDuration: Histogram<"method">;
  readonly bytesReceived: Counter<"method">;
  readonly bytesSent: Counter<"method">;

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    this.rpcsHandled = new Counter({
      name: "cfs_grpc_server_handled_total",
      help: "RPCs completed, by method and gRPC status code.",
      labelNames: ["method", "code"],
      registers: [this.registry],
    });
    this.rpcDuration = new Histogram({
      name: "cfs_grpc_server_handling_seconds",
      help: "Time from the start of an RPC to its status.",
      labelNames: ["method"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers: [this.registry],
    });
    this.bytesReceived = new Counter({
      name: "cfs_grpc_server_received_bytes_total",
      help: "Serialized request message bytes received.",
      labelNames: ["method"],
      registers: [this.registry],
    });
    this.bytesSent = new Counter({
      name: "cfs_grpc_server_sent_bytes_total",
      help: "Serialized response message bytes sent.",
      labelNames: ["method"],
      registers: [this.registry],
    });
  }

  /** Serves GET /metrics on the given port (0 picks a free one). */
  async serve(host: string, port: number): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.method === "GET" && req.url === "/metrics") {
        this.registry.metrics().then(
          (body) => res.writeHead(200, { "content-type": this.registry.contentType }).end(body),
          () => res.writeHead(500).end(),
        );
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    return server;
  }
}
