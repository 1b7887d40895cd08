import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import { ChangeFeed, type ChangeFeedOptions } from "./change-feed.js";
import { Retention } from "./retention.js";
import { SqliteChangeLog } from "./sqlite-change-log.js";

export { ChangeFeed } from "./change-feed.js";
export { watchChangesHandler } from "./handler.js";
export { notifyOnInsert } from "./notify.js";

export interface ChangeFeedSetup {
  /** The sync database, already created and migrated by the event store. */
  databasePath: string;
  retentionDays: number;
  registry: Registry;
  log: Logger;
  feed?: Omit<ChangeFeedOptions, "subscribers">;
}

export interface RunningChangeFeed {
  feed: ChangeFeed;
  /** Ends open streams (UNAVAILABLE) when shutdown begins, so the drain does not wait for them. */
  endStreams(): void;
  /** Stops pruning and closes the connection (after the server drained). */
  close(): Promise<void>;
}

/** Wires the change feed: its SQLite connection, the subscriber gauge, the safety poll and pruning. */
export function startChangeFeed(setup: ChangeFeedSetup): RunningChangeFeed {
  const changeLog = SqliteChangeLog.open(setup.databasePath);
  const subscribers = new Gauge({
    name: "cfs_sync_feed_subscribers",
    help: "Open WatchChanges streams.",
    registers: [setup.registry],
  });
  const feed = new ChangeFeed(changeLog, { ...setup.feed, subscribers });
  const retention = new Retention(changeLog, setup.retentionDays, setup.log.child({ component: "retention" }));
  feed.start();
  retention.start();
  return {
    feed,
    endStreams: () => feed.close(),
    close: async () => {
      feed.close();
      await retention.stop();
      changeLog.close();
    },
  };
}
