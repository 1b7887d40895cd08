import type { Logger } from "pino";
import { CfsError } from "#lib/errors.js";
import type { ServiceIdentity } from "#lib/grpc-client.js";
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

export interface RelayOptions {
  /** Events read from the outbox per run. */
  batchSize?: number;
  maxBatchBytes?: number;
  /** An event was set aside as a dead letter (the metric). */
  onSetAside?: (event: OutboxEvent, reason: string) => void;
}

/**
 * Whether the sync service refused the events themselves (malformed, or too
 * large for a message) rather than failed to take them: sending them again
 * would fail the same way for ever.
 */
function isRefusal(err: unknown): err is CfsError {
  return err instanceof CfsError && (err.kind === "invalid-argument" || err.kind === "resource-exhausted");
}

/**
 * Delivers the sync events that commits and deletes wrote into the outbox.
 * Events leave the outbox only after the sync service took them, so they
 * survive it being down; a batch whose answer was lost is sent again, which
 * the sync service ignores by event id. A batch the sync service refuses is
 * sent again one event at a time, in order: an event refused alone is set
 * aside as a dead letter (an operator lists and retries them) and never
 * holds up the events behind it.
 */
export class OutboxRelay {
  private readonly batchSize: number;
  private readonly maxBatchBytes: number;

  constructor(
    private readonly outbox: OutboxStore,
    private readonly sink: EventSink,
    private readonly identity: ServiceIdentity,
    private readonly log: Logger,
    private readonly options: RelayOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 100;
    this.maxBatchBytes = options.maxBatchBytes ?? MAX_BATCH_BYTES;
  }

  /** Relays the oldest batch; true when more events may be waiting. */
  async relayOnce(signal?: AbortSignal): Promise<boolean> {
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
    try {
      const recorded = await this.sink.recordEvents(events, await this.identity(signal));
      await this.outbox.removeEvents(events.map((e) => e.seq));
      this.log.info({ events: events.length, recorded, firstSeq: events[0]!.seq, lastSeq: events.at(-1)!.seq }, "outbox relayed");
    } catch (err) {
      if (!isRefusal(err)) throw err;
      this.log.warn({ err, events: events.length }, "the sync service refused a batch: sending its events one at a time");
      for (const event of events) await this.relayAlone(event, signal);
    }
    return events.length < pending.length || pending.length === this.batchSize;
  }

  private async relayAlone(event: OutboxEvent, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.sink.recordEvents([event], await this.identity(signal));
      await this.outbox.removeEvents([event.seq]);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      await this.outbox.setAside(event, err.message);
      this.options.onSetAside?.(event, err.message);
      this.log.error(
        { err, seq: event.seq, eventId: event.eventId, eventType: event.eventType, fileId: event.fileId },
        "the sync service refused an event: set aside as a dead letter (list and retry: services/metadata/src/dead-letters.ts)",
      );
    }
  }
}
