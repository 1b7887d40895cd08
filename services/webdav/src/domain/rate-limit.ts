/**
 * Failed logins, counted per user name and client address in a sliding
 * window. Too many from one address for one user: that address waits
 * (429) while others — the real user elsewhere — are not held up. Too many
 * for one user across addresses (guessing from many places) holds up new
 * logins for that user, but only until the window passes; sessions already
 * verified go on (the credential cache is checked first), so guesses never
 * lock the real user out for long.
 */
export interface RateLimitOptions {
  windowMs: number;
  maxPerAddress: number;
  maxPerUser: number;
}

export class FailedLoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly options: RateLimitOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds to wait before trying again, or 0 when a login may be tried. */
  retryAfterMs(user: string, address: string): number {
    const byAddress = this.recent(`a:${user}\0${address}`);
    const byUser = this.recent(`u:${user}`);
    const wait = (times: number[], max: number) => (times.length >= max ? times[times.length - max]! + this.options.windowMs - this.now() : 0);
    return Math.max(0, wait(byAddress, this.options.maxPerAddress), wait(byUser, this.options.maxPerUser));
  }

  recordFailure(user: string, address: string): void {
    for (const key of [`a:${user}\0${address}`, `u:${user}`]) {
      const times = this.recent(key);
      times.push(this.now());
      this.failures.set(key, times);
    }
    if (this.failures.size > 100_000) this.prune();
  }

  private recent(key: string): number[] {
    const since = this.now() - this.options.windowMs;
    const times = (this.failures.get(key) ?? []).filter((t) => t > since);
    if (times.length === 0) this.failures.delete(key);
    else this.failures.set(key, times);
    return times;
  }

  private prune(): void {
    for (const key of [...this.failures.keys()]) this.recent(key);
  }
}
