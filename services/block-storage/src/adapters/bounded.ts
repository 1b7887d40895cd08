/**
 * Runs `fn` over `items` with at most `limit` calls in flight; results keep
 * the input order. After the first failure no new call starts, so a dead
 * backend is not hammered with the rest of a 1000-hash request.
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * The sizes of the distinct `hashes` that `sizeOf` finds, looked up at most
 * `limit` at a time: what every ChunkStore's has() answers.
 */
export async function presentSizes(
  hashes: readonly string[],
  limit: number,
  sizeOf: (hash: string) => Promise<number | undefined>,
): Promise<Map<string, number>> {
  const unique = [...new Set(hashes)];
  const sizes = await mapBounded(unique, limit, sizeOf);
  const present = new Map<string, number>();
  unique.forEach((hash, i) => {
    const size = sizes[i];
    if (size !== undefined) present.set(hash, size);
  });
  return present;
}

/**
 * `get` of each of `hashes`, in order, with up to `ahead` of them in flight:
 * ChunkStore.getMany for a store that reads one chunk at a time. A failure
 * surfaces in order, when its chunk is due.
 */
export async function* readAhead(
  hashes: readonly string[],
  ahead: number,
  get: (hash: string) => Promise<Buffer | undefined>,
): AsyncGenerator<Buffer | undefined> {
  const pending: Array<Promise<Buffer | undefined>> = [];
  let next = 0;
  const refill = () => {
    while (pending.length < Math.max(1, ahead) && next < hashes.length) {
      const reading = get(hashes[next++]!);
      // Its error surfaces when it is awaited, or not at all once the caller stopped.
      reading.catch(() => undefined);
      pending.push(reading);
    }
  };
  refill();
  while (pending.length > 0) {
    const data = await pending.shift()!;
    refill();
    yield data;
  }
}
