import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Health, LIVENESS } from "./health.js";

type HealthClient = grpc.Client & {
  check(r: { service: string }, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void): void;
};

let server: grpc.Server | undefined;
afterEach(() => server?.forceShutdown());

async function serve(health: Health): Promise<(name: string) => Promise<string>> {
  server = new grpc.Server();
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server!.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const Client = grpc.makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as HealthClient;
  return (name) =>
    new Promise((resolve) =>
      client.check({ service: name }, { deadline: Date.now() + 2000 }, (err, res) => resolve(err ? grpc.status[err.code] : res!.status)),
    );
}

describe("Health", () => {
  it("follows dependencies for readiness but not for liveness, and turns both off on shutdown", async () => {
    let databaseUp = false;
    const health = new Health(["cfs.test.v1.TestService"], [
        {
          name: "db",
          check: async () => {
            if (!databaseUp) throw new Error("down");
          },
        },
      ], pino({ level: "silent" }));
    const check = await serve(health);
    await health.start(60_000);
    expect(await check("")).toBe("NOT_SERVING");
    expect(await check("cfs.test.v1.TestService")).toBe("NOT_SERVING");
    expect(await check(LIVENESS)).toBe("SERVING");
    expect(await check("no.such.Service")).toBe("NOT_FOUND");
    databaseUp = true;
    await health.start(60_000);
    expect(await check("")).toBe("SERVING");
    health.shutdown();
    expect(await check("")).toBe("NOT_SERVING");
    expect(await check(LIVENESS)).toBe("NOT_SERVING");
  });
});
