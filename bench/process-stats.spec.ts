import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { cpuSeconds, parseStat, processTreeCpuSeconds, processTreeTicks, procfs, type ProcReader, type ProcStat } from "./process-stats.js";
import { postmasterOf } from "./postgres-meter.js";

interface FakeProcess extends ProcStat {
  title: string;
}

/**
 * A /proc of made-up processes. `reap` does what the kernel does when a
 * parent waits for a child: the child's own and reaped time moves into the
 * parent's cutime and cstime, and the child is gone. `beforeRead` runs before
 * every read, so a test can reap a child in the middle of a sample.
 */
class FakeProc implements ProcReader {
  readonly processes = new Map<number, FakeProcess>();
  beforeRead: (kind: "stat" | "children", pid: number) => void = () => undefined;

  add(pid: number, ppid: number, utime: number, stime = 0, comm = "postgres", title = comm): this {
    this.processes.set(pid, { comm, ppid, utime, stime, cutime: 0, cstime: 0, title });
    return this;
  }

  reap(pid: number): void {
    const child = this.processes.get(pid)!;
    const parent = this.processes.get(child.ppid)!;
    parent.cutime += child.utime + child.cutime;
    parent.cstime += child.stime + child.cstime;
    this.processes.delete(pid);
  }

  async stat(pid: number): Promise<string | undefined> {
    this.beforeRead("stat", pid);
    const p = this.processes.get(pid);
    // Fields 3 to 17 and two more, as the kernel writes them; a comm may hold spaces and parentheses.
    return p && `${pid} (${p.comm}) S ${p.ppid} ${pid} ${pid} 0 -1 4194304 10 0 0 0 ${p.utime} ${p.stime} ${p.cutime} ${p.cstime} 20 0`;
  }

  async children(pid: number): Promise<number[]> {
    this.beforeRead("children", pid);
    return [...this.processes].filter(([, p]) => p.ppid === pid).map(([child]) => child);
  }

  async cmdline(pid: number): Promise<string | undefined> {
    return this.processes.get(pid)?.title;
  }
}

/** A postmaster (100) with two auxiliary processes and two backends, one of which (103) has a child of its own. */
function server(): FakeProc {
  return new FakeProc().add(100, 1, 5, 2).add(101, 100, 3, 1).add(102, 100, 4).add(103, 100, 10, 5).add(104, 100, 7).add(105, 103, 2, 1);
}

describe("parseStat", () => {
  it("reads the fields after a command that holds spaces and parentheses", () => {
    const stat = parseStat("42 (a (b) c) S 7 42 42 0 -1 0 0 0 0 0 11 12 13 14 20 0 1 0");
    expect(stat).toEqual({ comm: "a (b) c", ppid: 7, utime: 11, stime: 12, cutime: 13, cstime: 14 });
  });
});

describe("processTreeTicks", () => {
  it("sums the process, what it reaped, and every live process under it", async () => {
    const proc = server();
    proc.processes.get(100)!.cutime = 6;
    proc.processes.get(100)!.cstime = 1;
    // 5+2+6+1 of the postmaster, 3+1, 4, 10+5 and its child's 2+1, 7.
    expect(await processTreeTicks(100, proc)).toBe(14 + 4 + 4 + 15 + 3 + 7);
  });

  it("keeps a backend's time when it exits and is reaped between two samples", async () => {
    const proc = server();
    const first = await processTreeTicks(100, proc);
    proc.processes.get(104)!.utime += 3;
    proc.reap(104);
    proc.add(106, 100, 1);
    expect(await processTreeTicks(100, proc)).toBe(first! + 3 + 1);
  });

  it("counts a grandchild once its parent has reaped it", async () => {
    const proc = server();
    const first = await processTreeTicks(100, proc);
    proc.reap(105);
    proc.reap(103);
    expect(await processTreeTicks(100, proc)).toBe(first);
  });

  it("keeps a child that is reaped after the children were listed, before it is read", async () => {
    const proc = server();
    const whole = await processTreeTicks(100, proc);
    let reaped = false;
    proc.beforeRead = (kind, pid) => {
      if (kind === "stat" && pid === 104 && !reaped) {
        reaped = true;
        proc.reap(104);
      }
    };
    expect(await processTreeTicks(100, proc)).toBe(whole);
  });

  it("takes the sample again when a child is reaped after it was read, instead of counting it twice", async () => {
    const proc = server();
    const whole = await processTreeTicks(100, proc);
    let statsOfPostmaster = 0;
    proc.beforeRead = (kind, pid) => {
      if (kind === "stat" && pid === 100 && ++statsOfPostmaster === 2) proc.reap(102);
    };
    expect(await processTreeTicks(100, proc)).toBe(whole);
  });

  it("settles for its last sample when children keep being reaped while it reads", async () => {
    const proc = server();
    for (let pid = 300; pid < 320; pid++) proc.add(pid, 100, 1);
    let next = 300;
    proc.beforeRead = (kind, pid) => {
      if (kind === "stat" && pid === 100 && proc.processes.has(next)) proc.reap(next++);
    };
    expect(await processTreeTicks(100, proc)).toBeGreaterThan(0);
    expect(next).toBeLessThan(320);
  });

  it("is undefined for a process that is gone", async () => {
    expect(await processTreeTicks(999, server())).toBeUndefined();
  });
});

describe("procfs", () => {
  it("lists this process's children and counts them in its tree", async () => {
    const child = spawn("sleep", ["30"]);
    await once(child, "spawn");
    try {
      expect(await procfs.children(process.pid)).toContain(child.pid);
      expect(await procfs.cmdline(child.pid!)).toBe("sleep 30");
      expect(await processTreeCpuSeconds(process.pid)).toBeGreaterThanOrEqual(await cpuSeconds(process.pid));
    } finally {
      child.kill();
    }
  });

  it("reads nothing of a process that is gone", async () => {
    const child = spawn("true");
    await once(child, "exit");
    expect(await procfs.stat(child.pid!)).toBeUndefined();
    expect(await procfs.children(child.pid!)).toEqual([]);
    expect(await procfs.cmdline(child.pid!)).toBeUndefined();
  });
});

describe("postmasterOf", () => {
  const backend = (title: string, comm = "postgres") => new FakeProc().add(100, 1, 0).add(200, 100, 0, 0, comm, title);

  it("is the parent of the backend titled with the database", async () => {
    expect(await postmasterOf(200, "cfs_test_1", backend("postgres: 15/main: cfs_test cfs_test_1 127.0.0.1(5000) idle"))).toEqual({ pid: 100 });
  });

  it("is not found when the backend pid is no process here", async () => {
    const found = await postmasterOf(300, "cfs_test_1", backend("postgres: cfs_test cfs_test_1 [local] idle"));
    expect(found).toEqual({ unmetered: expect.stringContaining("no process here") });
  });

  it("is not found when the process under that pid is not titled with the database (another PID namespace, or no titles)", async () => {
    expect(await postmasterOf(200, "cfs_test_1", backend("postgres: cfs_test cfs_test_2 [local] idle"))).toEqual({ unmetered: expect.stringContaining("update_process_title") });
    expect(await postmasterOf(200, "cfs_test_1", backend("node server.js", "node"))).toEqual({ unmetered: expect.stringContaining("not titled with") });
  });

  it("is not found when the backend's parent runs another executable", async () => {
    const proc = new FakeProc().add(100, 1, 0, 0, "containerd-shim").add(200, 100, 0, 0, "postgres", "postgres: cfs_test cfs_test_1 [local] idle");
    expect(await postmasterOf(200, "cfs_test_1", proc)).toEqual({ unmetered: expect.stringContaining("not a postmaster") });
  });
});
