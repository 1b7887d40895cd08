import { formatBytes } from "#lib/bytes.js";

export interface ProgressSnapshot {
  label: string;
  bytes: number;
  /** Unknown until the server says how much is coming. */
  total: number | undefined;
  elapsedMs: number;
}

const BAR_WIDTH = 20;

/** One progress line: "uploading  12.3 MiB / 100 MiB  12% [##......]  45.6 MiB/s". */
export function formatProgress({ label, bytes, total, elapsedMs }: ProgressSnapshot): string {
  const rate = elapsedMs > 0 ? bytes / 1024 ** 2 / (elapsedMs / 1000) : 0;
  const speed = `${rate.toFixed(1)} MiB/s`;
  if (total === undefined) return `${label}  ${formatBytes(bytes)}  ${speed}`;
  // An empty file is complete as soon as it starts.
  const fraction = total === 0 ? 1 : Math.min(bytes / total, 1);
  const filled = Math.floor(fraction * BAR_WIDTH);
  const bar = `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${label}  ${formatBytes(bytes)} / ${formatBytes(total)}  ${percent} ${bar}  ${speed}`;
}

/** What put and get report progress to. */
export interface Progress {
  setTotal(total: number): void;
  add(bytes: number): void;
  /** Draws the final state and ends the line. */
  finish(): void;
  /** Ends the line without a final draw, so an error message starts on its own line. */
  abandon(): void;
}

export const noProgress: Progress = {
  setTotal: () => undefined,
  add: () => undefined,
  finish: () => undefined,
  abandon: () => undefined,
};

export interface ProgressSink {
  write(text: string): unknown;
}

/**
 * A self-overwriting line on a terminal: `\r` back to the line start, then
 * ESC[K to erase what a longer previous line left. Redrawn at most every
 * intervalMs, since frames arrive far faster than anyone can read.
 */
export class ProgressLine implements Progress {
  private bytes = 0;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private ended = false;
  private readonly started: number;

  constructor(
    private readonly sink: ProgressSink,
    private readonly label: string,
    private total: number | undefined = undefined,
    private readonly now: () => number = () => performance.now(),
    private readonly intervalMs = 100,
  ) {
    this.started = now();
  }

  setTotal(total: number): void {
    this.total = total;
  }

  add(bytes: number): void {
    this.bytes += bytes;
    const now = this.now();
    if (now - this.lastDraw >= this.intervalMs) this.draw(now);
  }

  finish(): void {
    if (this.ended) return;
    this.draw(this.now());
    this.end();
  }

  abandon(): void {
    if (this.ended) return;
    if (this.lastDraw !== Number.NEGATIVE_INFINITY) this.end();
    this.ended = true;
  }

  private draw(now: number): void {
    this.lastDraw = now;
    const line = formatProgress({ label: this.label, bytes: this.bytes, total: this.total, elapsedMs: now - this.started });
    this.sink.write(`\r${line}\x1b[K`);
  }

  private end(): void {
    this.ended = true;
    this.sink.write("\n");
  }
}

export function createProgress(enabled: boolean, sink: ProgressSink, label: string, total?: number): Progress {
  return enabled ? new ProgressLine(sink, label, total) : noProgress;
}
