import {
  EventStatus as ProtoEventStatus,
  EventType as ProtoEventType,
  type SyncEvent,
  type SyncServiceService,
} from "../../../gen/cfs/sync/v1/sync.js";
import type { ServiceHandlers } from "../../../lib/grpc-server.js";
import type { SyncEvents } from "./domain/sync-events.js";
import type { ChangeFeed } from "./feed/change-feed.js";
import { watchChangesHandler } from "./feed/handler.js";
import type { EventStatus, EventType, IncomingEvent, SyncEventRecord } from "./domain/types.js";

const typeToProto: Record<EventType, ProtoEventType> = {
  upload: ProtoEventType.EVENT_TYPE_UPLOAD,
  update: ProtoEventType.EVENT_TYPE_UPDATE,
  delete: ProtoEventType.EVENT_TYPE_DELETE,
};

const statusToProto: Record<EventStatus, ProtoEventStatus> = {
  pending: ProtoEventStatus.EVENT_STATUS_PENDING,
  processing: ProtoEventStatus.EVENT_STATUS_PROCESSING,
  completed: ProtoEventStatus.EVENT_STATUS_COMPLETED,
  failed: ProtoEventStatus.EVENT_STATUS_FAILED,
};

const protoToType = new Map<ProtoEventType, EventType>(
  Object.entries(typeToProto).map(([type, proto]) => [proto, type as EventType]),
);

/** Translates SyncService calls to the domain. */
export function createHandlers(events: SyncEvents, feed: ChangeFeed): ServiceHandlers<typeof SyncServiceService> {
  return {
    async recordEvents(request, ctx) {
      const recorded = await events.record(ctx.principal, request.events.map(fromProto));
      ctx.log.info({ received: request.events.length, recorded }, "sync events recorded");
      return { recorded };
    },

    async listSyncEvents(request, ctx) {
      const page = await events.list(ctx.principal, request);
      return { events: page.events.map(toProto), nextPageToken: page.nextPageToken };
    },

    async getSyncEvent(request, ctx) {
      return { event: toProto(await events.get(ctx.principal, request.eventId)) };
    },

    watchChanges: watchChangesHandler(feed),
  };
}

/** Status and error_message of incoming events are ignored: new events start pending. */
function fromProto(event: SyncEvent): IncomingEvent {
  return {
    eventId: event.eventId,
    fileId: event.fileId,
    owner: event.owner,
    // UNSPECIFIED and unknown values map to "" for the domain to reject.
    eventType: protoToType.get(event.eventType) ?? "",
    name: event.name,
    version: event.version,
    size: event.size,
    sha256: event.sha256,
    occurredAt: event.createdAt,
  };
}

function toProto(event: SyncEventRecord): SyncEvent {
  return {
    eventId: event.eventId,
    fileId: event.fileId,
    owner: event.owner,
    eventType: typeToProto[event.eventType],
    status: statusToProto[event.status],
    errorMessage: event.errorMessage,
    name: event.name,
    version: event.version,
    size: event.size,
    sha256: event.sha256,
    createdAt: event.createdAt,
    updatedAt: event.updatedAt,
  };
}
