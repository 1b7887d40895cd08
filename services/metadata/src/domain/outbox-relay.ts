import type { Logger } from "pino";
import type { CallIdentity } from "../../../../lib/grpc-client.js";
import type { EventSink } from "../ports/event-sink.js";
import type { MetadataRepository } from "../ports/metadata-repository.js";

/**
 * Delivers the sync events that commits and deletes wrote into the outbox.
 * Events leave the outbox only after the sync service took them, so they
 * survive it being down; a batch whose answer was lost is sent again, which
 * the sync service ignores by event id.
 */
export class OutboxRelay {
  constructor(
    private readonly repo: MetadataRepository,
    private readonly sink: EventSink,
    private readonly identity: () => Promise<CallIdentity>,
    private readonly log: Logger,
    private readonly batchSize = 100,
  ) {}

  /** Relays the oldest batch; true when more events may be waiting. */
  async relayOnce(): Promise<boolean> {
    const events = await this.repo.pendingEvents(this.batchSize);
    if (events.length === 0) return false;
    const recorded = await this.sink.recordEvents(events, await this.identity());
    await this.repo.removeEvents(events.map((e) => e.seq));
    this.log.info({ events: events.length, recorded, firstSeq: events[0]!.seq, lastSeq: events.at(-1)!.seq }, "outbox relayed");
    return events.length === this.batchSize;
  }
}
