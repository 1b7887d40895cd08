import type { Server } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Health } from "./health.js";

export interface ShutdownOptions {
  server: Server;
  health: Health;
  log: Logger;
  /** In-flight calls get this long to finish before they are cancelled. */
  graceMs: number;
  /** Closed in order after the server stopped (background loops, pools...). */
  closers: ReadonlyArray<{ name: string; close: () => Promise<void> | void }>;
}

/**
 * Graceful stop on SIGTERM/SIGINT: health turns NOT_SERVING, the server
 * stops accepting and drains in-flight calls (forced after graceMs), then
 * resources close. Returns the function so tests can trigger it directly.
 */
export function installShutdown(options: ShutdownOptions): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const { server, health, log, graceMs, closers } = options;
      log.info("shutting down: draining in-flight calls");
      health.shutdown();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn({ graceMs }, "grace period over: cancelling remaining calls");
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      for (const { name, close } of closers) {
        try {
          await close();
        } catch (err) {
          log.error({ err, resource: name }, "error while closing");
        }
      }
      log.info("stopped");
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    options.log.info({ signal }, "signal received");
    void stop().then(() => process.exit(0));
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  return stop;
}
