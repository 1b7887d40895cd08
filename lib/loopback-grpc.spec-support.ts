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
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

/** serveOnLoopback with a generic client of the same service; `close` stops both. */
export async function loopbackGrpc<Client>(
  definition: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
): Promise<{ client: Client; address: string; close: () => void }> {
  const { address, stop } = await serveOnLoopback(definition, implementation);
  const client = new (grpc.makeGenericClientConstructor(definition, "Loopback"))(address, grpc.credentials.createInsecure());
  return {
    client: client as unknown as Client,
    address,
    close: () => {
      client.close();
      stop();
    },
  };
}

const asItIs = (bytes: Buffer) => bytes;

/**
 * A method on raw bytes, for the specs of what grpc-js does with them: sent
 * as they are, received as grpc-js hands them over unless `received` says
 * what to do with them on either side.
 */
export function bytesMethod(
  path: string,
  streams: { requestStream: boolean; responseStream: boolean },
  received: { request?: (bytes: Buffer) => Buffer; response?: (bytes: Buffer) => Buffer } = {},
): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    ...streams,
    requestSerialize: asItIs,
    requestDeserialize: received.request ?? asItIs,
    responseSerialize: asItIs,
    responseDeserialize: received.response ?? asItIs,
  };
}
