import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freePorts } from "./net.js";

/** Resolves when 127.0.0.1:port could be bound (and closes it again). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

describe("freePorts", () => {
  it("gives as many different ports as asked for, all closed again", async () => {
    const ports = await freePorts(25);
    expect(ports).toHaveLength(25);
    expect(new Set(ports).size).toBe(25);
    for (const port of ports) expect(port).toBeGreaterThan(0);
    expect(await Promise.all(ports.map(bindable))).toEqual(ports.map(() => true));
  });
});
