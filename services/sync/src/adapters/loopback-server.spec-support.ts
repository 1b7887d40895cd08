import * as grpc from "@grpc/grpc-js";

/**
 * A gRPC server on 127.0.0.1 (a free port) that implements only `handlers`
 * of `service`: the others answer UNIMPLEMENTED, as an older peer's would.
 * For the adapters' tests; `stop` ends it.
 */
export async function serveOnLoopback(
  service: grpc.ServiceDefinition,
  handlers: Record<string, unknown>,
): Promise<{ address: string; stop(): void }> {
  const server = new grpc.Server();
  server.addService(service, handlers as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}
