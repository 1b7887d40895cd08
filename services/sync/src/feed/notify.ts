/** What a store that records events looks like, as far as notification goes. */
interface RecordingStore {
  insertNew(events: readonly { owner: string }[]): Promise<number>;
}

/** What gets told about recorded events. */
interface Notified {
  notify(owners: Iterable<string>): void;
}

/**
 * The store with every other method untouched and `insertNew` telling the
 * feed, once the insert committed, whose events were recorded, so those
 * owners' WatchChanges streams wake at once instead of polling.
 */
export function notifyOnInsert<S extends RecordingStore>(store: S, feed: Notified): S {
  const insertNew = async (events: Parameters<S["insertNew"]>[0]): Promise<number> => {
    const inserted = await store.insertNew(events);
    if (inserted > 0) feed.notify(events.map((event) => event.owner));
    return inserted;
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === "insertNew") return insertNew;
      const value: unknown = Reflect.get(target, property, target);
      // Bound to the real store, so private state (#fields included) keeps working.
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
