import * as grpc from "@grpc/grpc-js";

/** A grpc-js server of one raw service on a free loopback port (at `address`) and a client of it; `close` stops both. */
export async function loopbackGrpc<Client>(
  definition: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
): Promise<{ client: Client; address: string; close: () => void }> {
  const server = new grpc.Server();
  server.addService(definition, implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const Client = grpc.makeGenericClientConstructor(definition, "Loopback");
  const address = `127.0.0.1:${port}`;
  const client = new Client(address, grpc.credentials.createInsecure());
  return {
    client: client as unknown as Client,
    address,
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}
