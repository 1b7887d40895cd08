/**
 * What `make run` does when a service exits on its own, as Kubernetes would:
 * start it again after a backoff that doubles with each quick failure
 * (RESTART_BASE_MS up to RESTART_MAX_MS) and falls back to the base once the
 * service has stayed up for STABLE_MS.
 */
export const RESTART_BASE_MS = 500;
export const RESTART_MAX_MS = 30_000;
export const STABLE_MS = 60_000;

export interface SupervisionEvent {
  service: string;
  /** "exited": it stopped on its own and will be restarted after delayMs; "restarted": it serves again; "failed": a restart did not come up. */
  kind: "exited" | "restarted" | "failed";
  code?: number | null;
  signal?: NodeJS.Signals | null;
  delayMs?: number;
  restarts: number;
  error?: string;
}

/**
 * Exits in a row without STABLE_MS of service in between: `previous` was the
 * count before this exit, after which the process had run for `upMs`.
 */
export function quickExits(previous: number, upMs: number): number {
  return upMs >= STABLE_MS ? 1 : previous + 1;
}

/** The wait before restarting after `quick` exits in a row (1 = the first). */
export function restartDelayMs(quick: number): number {
  return Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** Math.max(0, quick - 1));
}

/** The line printed for an event, e.g. "chunker exited (signal SIGKILL); restarting in 0.5 s (restart 1)". */
export function describeEvent(event: SupervisionEvent): string {
  const how = event.signal ? `signal ${event.signal}` : `code ${event.code}`;
  switch (event.kind) {
    case "exited":
      return `${event.service} exited unexpectedly (${how}); restarting in ${(event.delayMs! / 1000).toFixed(1)} s (restart ${event.restarts})`;
    case "restarted":
      return `${event.service} is serving again (restart ${event.restarts})`;
    case "failed":
      return `${event.service} did not come back (restart ${event.restarts}): ${event.error}`;
  }
}

/** The CFS_* variables `make run` hands to every service (each service's config reads only its own). */
export function passedThrough(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[0].startsWith("CFS_") && e[1] !== undefined));
}
