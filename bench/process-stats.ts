import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";

/**
 * What make bench charges each process for a phase, read from /proc: CPU
 * time (utime + stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks;
 * all threads of the process, GC and libuv workers included) and peak RSS
 * (VmHWM, which writing 5 to /proc/<pid>/clear_refs resets). CPU time is what
 * a process did, whatever else runs on the machine, so it is far steadier
 * than MB/s on a shared host.
 */
const CLOCK_TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Field 2 is the command in parentheses and may hold spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  return (Number(fields[14 - 3]) + Number(fields[15 - 3])) / CLOCK_TICKS_PER_SECOND;
}

export async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Starts a new peak-RSS mark, so a phase's peak is its own. */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, "5").catch(() => undefined);
}

/**
 * Tells when a set of processes is quiet again, and what they burn when
 * idle. `calibrate` watches them while they have nothing to do (a service
 * under `--cpu-prof` is never at zero: the profiler samples it); `wait`
 * returns once no process uses more CPU in a half-second window than at its
 * busiest while idle, plus one clock tick. make bench waits after each run,
 * so background work a phase set off (sync's verification of new files, say)
 * is charged to that phase and not to the next, and subtracts the idle rate
 * over the time it counted (`idleCpuSeconds`).
 */
export class QuietWatch {
  private static readonly WINDOW_MS = 500;

  private constructor(
    private readonly pids: number[],
    /** CPU seconds of the busiest idle window, per process. */
    private readonly idlePeak: number[],
    /** CPU seconds per second while idle, per process. */
    private readonly idleRate: number[],
  ) {}

  /**
   * Measures the processes' idle CPU; call it when they have nothing to do.
   * A freshly started process often is not idle yet (MinIO's scanner at
   * start, a service's first background pass): calibrating then would make
   * its start-up work look like its idle rate and zero every figure of it.
   * So it watches until two calibrations in a row agree (within a tick per
   * window and 20 %), for at most `maxTries`.
   */
  static async calibrate(pids: number[], windows = 6, maxTries = 10): Promise<QuietWatch> {
    let previous = await QuietWatch.watchIdle(pids, windows);
    for (let attempt = 1; attempt < maxTries; attempt++) {
      const next = await QuietWatch.watchIdle(pids, windows);
      const tickRate = 1 / CLOCK_TICKS_PER_SECOND / (QuietWatch.WINDOW_MS / 1000);
      const settled = next.idleRate.every((rate, i) => Math.abs(rate - previous.idleRate[i]!) <= tickRate + 0.2 * Math.max(rate, previous.idleRate[i]!));
      previous = next;
      if (settled) break;
    }
    return new QuietWatch(pids, previous.idlePeak, previous.idleRate);
  }

  private static async watchIdle(pids: number[], windows: number): Promise<{ idlePeak: number[]; idleRate: number[] }> {
    const peak = pids.map(() => 0);
    const first = await Promise.all(pids.map(cpuSeconds));
    const start = performance.now();
    let before = first;
    for (let w = 0; w < windows; w++) {
      const now = await QuietWatch.window(pids);
      now.forEach((seconds, i) => (peak[i] = Math.max(peak[i]!, seconds - before[i]!)));
      before = now;
    }
    const elapsed = (performance.now() - start) / 1000;
    return { idlePeak: peak, idleRate: before.map((seconds, i) => (seconds - first[i]!) / elapsed) };
  }

  /** What process `pid` burns idle in `seconds` of wall time. */
  idleCpuSeconds(pid: number, seconds: number): number {
    const i = this.pids.indexOf(pid);
    return i === -1 ? 0 : this.idleRate[i]! * seconds;
  }

  /** Waits until every process is back at its idle rate; false when that did not happen within timeoutMs. */
  async wait(timeoutMs = 30_000): Promise<boolean> {
    const tick = 1 / CLOCK_TICKS_PER_SECOND;
    const deadline = Date.now() + timeoutMs;
    let before = await Promise.all(this.pids.map(cpuSeconds));
    while (Date.now() < deadline) {
      const now = await QuietWatch.window(this.pids);
      if (now.every((seconds, i) => seconds - before[i]! <= this.idlePeak[i]! + tick + 1e-9)) return true;
      before = now;
    }
    return false;
  }

  private static async window(pids: number[]): Promise<number[]> {
    await new Promise((resolve) => setTimeout(resolve, QuietWatch.WINDOW_MS));
    return Promise.all(pids.map(cpuSeconds));
  }
}
