import type { Logger } from "pino";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { EventSink } from "../ports/event-sink.js";
import type { OutboxStore } from "../ports/outbox-store.js";
import type { OutboxEvent } from "./types.js";

/**
 * One RecordEvents request stays below this estimate, well under the sync
 * service's 4 MiB receive limit: a delete event lists the hashes of its
 * file's chunks (66 bytes each on the wire), so a few deletes of large files
 * would otherwise not fit in one message.
 */
export const MAX_BATCH_BYTES = 2 * 1024 * 1024;

/** A generous upper bound of an event's encoded size. */
export function estimatedBytes(event: OutboxEvent): number {
  return 256 + Buffer.byteLength(event.owner) + Buffer.byteLength(event.name) + 68 * event.chunkSha256s.length;
}

/**
 * Delivers the sync events that commits and deletes wrote into the outbox.
 * Events leave the outbox only after the sync service took them, so they
 * survive it being down; a batch whose answer was lost is sent again, which
 * the sync service ignores by event id.
 */
export class OutboxRelay {
  constructor(
    private readonly outbox: OutboxStore,
    private readonly sink: EventSink,
    private readonly identity: () => Promise<CallIdentity>,
    private readonly log: Logger,
    private readonly batchSize = 100,
    private readonly maxBatchBytes = MAX_BATCH_BYTES,
  ) {}

  /** Relays the oldest batch; true when more events may be waiting. */
  async relayOnce(): Promise<boolean> {
    const pending = await this.outbox.pendingEvents(this.batchSize);
    if (pending.length === 0) return false;
    // In order, as many as fit the byte budget (at least one: an event alone
    // over the budget still goes, and only the receive limit can refuse it).
    let bytes = 0;
    let count = 0;
    while (count < pending.length && (count === 0 || bytes + estimatedBytes(pending[count]!) <= this.maxBatchBytes)) {
      bytes += estimatedBytes(pending[count]!);
      count += 1;
    }
    const events = pending.slice(0, count);
    const recorded = await this.sink.recordEvents(events, await this.identity());
    await this.outbox.removeEvents(events.map((e) => e.seq));
    this.log.info({ events: events.length, recorded, firstSeq: events[0]!.seq, lastSeq: events.at(-1)!.seq }, "outbox relayed");
    return events.length < pending.length || pending.length === this.batchSize;
  }
}
