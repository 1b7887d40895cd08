import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import type { Server } from "@grpc/grpc-js";
import { errorMessage } from "./errors.js";
import type { Logger } from "pino";

/** The health service name liveness probes ask for. */
export const LIVENESS = "liveness";

/** A dependency probe: resolves when the dependency answers, rejects otherwise. */
export type DependencyCheck = { name: string; check: () => Promise<void> };

/**
 * grpc.health.v1 for a process: "" and each of its gRPC service names are
 * SERVING only while every dependency check passes (readiness); shutdown()
 * turns them NOT_SERVING first so load balancers stop routing before the
 * drain. "liveness" is SERVING for as long as the process serves at all, so
 * a liveness probe never restarts a pod because a dependency is down.
 */
export class Health {
  private readonly impl: HealthImplementation;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(
    private readonly serviceNames: readonly string[],
    private readonly checks: readonly DependencyCheck[],
    private readonly log: Logger,
  ) {
    this.impl = new HealthImplementation({
      ...Object.fromEntries(["", ...serviceNames].map((n) => [n, "NOT_SERVING"])),
      [LIVENESS]: "SERVING",
    });
  }

  addToServer(server: Server): void {
    this.impl.addToServer(server);
  }

  /** Runs the checks now and then every intervalMs. */
  async start(intervalMs = 5_000): Promise<void> {
    await this.runChecks();
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.runChecks(), intervalMs);
    this.timer.unref();
  }

  private lastStatus: ServingStatus | undefined;

  private async runChecks(): Promise<void> {
    const failures: string[] = [];
    await Promise.all(
      this.checks.map(async ({ name, check }) => {
        try {
          await withTimeout(check(), 3_000);
        } catch (err) {
          failures.push(`${name}: ${errorMessage(err)}`);
        }
      }),
    );
    if (this.stopping) return;
    const status: ServingStatus = failures.length === 0 ? "SERVING" : "NOT_SERVING";
    if (status !== this.lastStatus) {
      if (status === "SERVING") this.log.info("healthy: all dependencies answer");
      else this.log.warn({ failures }, "unhealthy: dependencies failing");
      this.lastStatus = status;
    }
    this.setAll(status);
  }

  private setAll(status: ServingStatus): void {
    for (const name of ["", ...this.serviceNames]) this.impl.setStatus(name, status);
  }

  shutdown(): void {
    this.stopping = true;
    clearInterval(this.timer);
    this.setAll("NOT_SERVING");
    this.impl.setStatus(LIVENESS, "NOT_SERVING");
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
