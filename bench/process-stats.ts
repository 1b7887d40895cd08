import { execFileSync } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";

/**
 * What make bench charges each process for a phase, read from /proc: CPU
 * time (utime + stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks;
 * all threads of the process, GC and libuv workers included) and peak RSS
 * (VmHWM, which writing 5 to /proc/<pid>/clear_refs resets); for a server
 * that forks a process per connection, the CPU time of its whole process tree
 * (`processTreeCpuSeconds`). CPU time is what a process did, whatever else
 * runs on the machine, so it is far steadier than MB/s on a shared host.
 */
const CLOCK_TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** The fields of /proc/<pid>/stat that make bench reads; times in clock ticks. */
export interface ProcStat {
  /** The executable's name (field 2), which a process title does not change. */
  comm: string;
  ppid: number;
  /** CPU of the process itself, all its threads. */
  utime: number;
  stime: number;
  /** CPU of the children it has reaped (and of theirs, that they reaped). */
  cutime: number;
  cstime: number;
}

export function parseStat(stat: string): ProcStat {
  // Field 2 is the command in parentheses and may hold spaces: count from the last ')'.
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  const field = (n: number) => Number(fields[n - 3]);
  return { comm: stat.slice(stat.indexOf("(") + 1, close), ppid: field(4), utime: field(14), stime: field(15), cutime: field(16), cstime: field(17) };
}

export async function cpuSeconds(pid: number): Promise<number> {
  const { utime, stime } = parseStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** What the CPU of a process tree is read from; tests give a fake one. */
export interface ProcReader {
  /** The text of /proc/<pid>/stat; undefined once the process is gone (reaped). */
  stat(pid: number): Promise<string | undefined>;
  /** The pids of the process's children (of all its threads); none once it is gone. */
  children(pid: number): Promise<number[]>;
  /** The command line, arguments joined by spaces (a process title, for a server that sets one); undefined once it is gone. */
  cmdline(pid: number): Promise<string | undefined>;
}

const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ESRCH";

export const procfs: ProcReader = {
  stat: (pid) => readFile(`/proc/${pid}/stat`, "utf8").catch((err: unknown) => (gone(err) ? undefined : Promise.reject(err))),
  children: async (pid) => {
    // A child belongs to the thread that forked it: each thread has its own list.
    const threads = await readdir(`/proc/${pid}/task`).catch((err: unknown) => (gone(err) ? [] : Promise.reject(err)));
    const lists = await Promise.all(threads.map((tid) => readFile(`/proc/${pid}/task/${tid}/children`, "utf8").catch((err: unknown) => (gone(err) ? "" : Promise.reject(err)))));
    return lists.flatMap((list) => list.split(" ").filter((pid) => pid !== "").map(Number));
  },
  cmdline: async (pid) => {
    const text = await readFile(`/proc/${pid}/cmdline`, "utf8").catch((err: unknown) => (gone(err) ? undefined : Promise.reject(err)));
    return text?.replaceAll("\0", " ").trim();
  },
};

/** How many times a sample of a tree is taken when children keep being reaped while it is read. */
const TREE_SAMPLE_TRIES = 5;

/**
 * CPU clock ticks of a process and of every process under it, the ones that
 * have exited included: its own utime + stime, the cutime + cstime of the
 * children it has reaped, and the same sum for each live child, down the
 * tree. For a server that forks a process per connection (PostgreSQL) the
 * sum grows steadily while connections come and go: a child that exits moves
 * its time from the live children into its parent's cutime. The parent's
 * reaped time is taken from a read after its children's, so a child reaped
 * before its own read is counted there, once; but one reaped after it was
 * read as live would be counted twice, so the parent is read before its
 * children too and the sample is taken again when its reaped time moved in
 * between (a child that exits with no tick to its name moves nothing). After
 * TREE_SAMPLE_TRIES such samples the last one stands, a child or two counted
 * twice. Undefined when `pid` is gone.
 */
export async function processTreeTicks(pid: number, proc: ProcReader = procfs): Promise<number | undefined> {
  for (let attempt = 1; ; attempt++) {
    const before = await proc.stat(pid);
    if (before === undefined) return undefined;
    const children = await proc.children(pid);
    const childTicks = await Promise.all(children.map((child) => processTreeTicks(child, proc)));
    const after = await proc.stat(pid);
    if (after === undefined) return undefined;
    const [was, is] = [parseStat(before), parseStat(after)];
    if (was.cutime + was.cstime === is.cutime + is.cstime || attempt === TREE_SAMPLE_TRIES) {
      return is.utime + is.stime + is.cutime + is.cstime + childTicks.reduce((sum: number, ticks) => sum + (ticks ?? 0), 0);
    }
  }
}

/** CPU seconds of a process and everything under it, exited children included (`processTreeTicks`). */
export async function processTreeCpuSeconds(pid: number): Promise<number> {
  const ticks = await processTreeTicks(pid);
  if (ticks === undefined) throw new Error(`process ${pid} is gone`);
  return ticks / CLOCK_TICKS_PER_SECOND;
}

export async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Starts a new peak-RSS mark, so a phase's peak is its own. */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, "5").catch(() => undefined);
}

/** The CPU seconds a meter has used so far: one process's, or a process tree's. */
export type CpuReader = () => Promise<number>;

const readAll = (readers: CpuReader[]) => Promise.all(readers.map((read) => read()));

/**
 * Tells when a set of meters (processes, process trees) is quiet again, and
 * what they burn when idle. `calibrate` watches them while they have nothing
 * to do (a service under `--cpu-prof` is never at zero: the profiler samples
 * it); `wait` returns once no meter uses more CPU in a half-second window than
 * at its busiest while idle, plus one clock tick. make bench waits after each
 * run, so background work a phase set off (sync's verification of new files,
 * say) is charged to that phase and not to the next, and subtracts the idle
 * rate over the time it counted (`idleCpuSeconds`).
 */
export class QuietWatch<Name extends string> {
  private static readonly WINDOW_MS = 500;

  private constructor(
    private readonly names: Name[],
    private readonly readers: CpuReader[],
    /** CPU seconds of the busiest idle window, per meter. */
    private readonly idlePeak: number[],
    /** CPU seconds per second while idle, per meter. */
    private readonly idleRate: number[],
  ) {}

  /**
   * Measures the meters' idle CPU; call it when they have nothing to do.
   * A freshly started process often is not idle yet (MinIO's scanner at
   * start, a service's first background pass): calibrating then would make
   * its start-up work look like its idle rate and zero every figure of it.
   * So it watches until two calibrations in a row agree (within a tick per
   * window and 20 %), for at most `maxTries`.
   */
  static async calibrate<Name extends string>(meters: ReadonlyMap<Name, CpuReader>, windows = 6, maxTries = 10): Promise<QuietWatch<Name>> {
    const readers = [...meters.values()];
    let previous = await QuietWatch.watchIdle(readers, windows);
    for (let attempt = 1; attempt < maxTries; attempt++) {
      const next = await QuietWatch.watchIdle(readers, windows);
      const tickRate = 1 / CLOCK_TICKS_PER_SECOND / (QuietWatch.WINDOW_MS / 1000);
      const settled = next.idleRate.every((rate, i) => Math.abs(rate - previous.idleRate[i]!) <= tickRate + 0.2 * Math.max(rate, previous.idleRate[i]!));
      previous = next;
      if (settled) break;
    }
    return new QuietWatch([...meters.keys()], readers, previous.idlePeak, previous.idleRate);
  }

  private static async watchIdle(readers: CpuReader[], windows: number): Promise<{ idlePeak: number[]; idleRate: number[] }> {
    const peak = readers.map(() => 0);
    const first = await readAll(readers);
    const start = performance.now();
    let before = first;
    for (let w = 0; w < windows; w++) {
      const now = await QuietWatch.window(readers);
      now.forEach((seconds, i) => (peak[i] = Math.max(peak[i]!, seconds - before[i]!)));
      before = now;
    }
    const elapsed = (performance.now() - start) / 1000;
    return { idlePeak: peak, idleRate: before.map((seconds, i) => (seconds - first[i]!) / elapsed) };
  }

  /** What meter `name` burns idle in `seconds` of wall time (0 for one not watched). */
  idleCpuSeconds(name: Name, seconds: number): number {
    const i = this.names.indexOf(name);
    return i === -1 ? 0 : this.idleRate[i]! * seconds;
  }

  /** Waits until every meter is back at its idle rate; false when that did not happen within timeoutMs. */
  async wait(timeoutMs = 30_000): Promise<boolean> {
    const tick = 1 / CLOCK_TICKS_PER_SECOND;
    const deadline = Date.now() + timeoutMs;
    let before = await readAll(this.readers);
    while (Date.now() < deadline) {
      const now = await QuietWatch.window(this.readers);
      if (now.every((seconds, i) => seconds - before[i]! <= this.idlePeak[i]! + tick + 1e-9)) return true;
      before = now;
    }
    return false;
  }

  private static async window(readers: CpuReader[]): Promise<number[]> {
    await new Promise((resolve) => setTimeout(resolve, QuietWatch.WINDOW_MS));
    return readAll(readers);
  }
}
