import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

/**
 * An in-process PGlite (PostgreSQL in WASM) behind a loopback socket, so the
 * same `pg` code path as production talks to it. In-memory unless dataDir.
 */
export async function startPglite(dataDir?: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const db = await PGlite.create(dataDir);
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 8 });
  await server.start();
  const conn = server.getServerConn();
  return {
    url: `postgres://postgres@${conn}/postgres`,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}
