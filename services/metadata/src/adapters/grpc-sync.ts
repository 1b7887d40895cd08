import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import { EventStatus, EventType, SyncServiceClient } from "#gen/cfs/sync/v1/sync.js";
import { callUnary, type CallIdentity } from "#lib/grpc-client.js";
import type { EventType as DomainEventType, OutboxEvent } from "../domain/types.js";
import type { EventSink } from "../ports/event-sink.js";

const TO_PROTO: Record<DomainEventType, EventType> = {
  upload: EventType.EVENT_TYPE_UPLOAD,
  update: EventType.EVENT_TYPE_UPDATE,
  delete: EventType.EVENT_TYPE_DELETE,
  move: EventType.EVENT_TYPE_MOVE,
  restore: EventType.EVENT_TYPE_RESTORE,
  trash: EventType.EVENT_TYPE_TRASH,
  undelete: EventType.EVENT_TYPE_UNDELETE,
  purge: EventType.EVENT_TYPE_PURGE,
  damaged: EventType.EVENT_TYPE_DAMAGED,
};

/** The sync service over gRPC. */
export class GrpcEventSink implements EventSink {
  readonly client: SyncServiceClient;

  constructor(address: string, options: ChannelOptions) {
    this.client = new SyncServiceClient(address, credentials.createInsecure(), options);
  }

  async recordEvents(events: readonly OutboxEvent[], as: CallIdentity): Promise<number> {
    const response = await callUnary(
      this.client.recordEvents.bind(this.client),
      {
        events: events.map((e) => ({
          eventId: e.eventId,
          fileId: e.fileId,
          owner: e.owner,
          eventType: TO_PROTO[e.eventType],
          // The sync service owns processing status and errors.
          status: EventStatus.EVENT_STATUS_UNSPECIFIED,
          errorMessage: "",
          name: e.name,
          version: e.version,
          size: e.size,
          sha256: e.sha256,
          createdAt: e.createdAt,
          attempts: 0,
          // Delete events: the chunks the deleted file used, for verification.
          chunkSha256s: e.chunkSha256s,
        })),
      },
      as,
      "sync RecordEvents",
    );
    return response.recorded;
  }

  close(): void {
    this.client.close();
  }
}
