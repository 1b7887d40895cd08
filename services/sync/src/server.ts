import {
  EventStatus as ProtoEventStatus,
  EventType as ProtoEventType,
  type SyncEvent,
  type SyncServiceService,
  type Verification as ProtoVerification,
} from "#gen/cfs/sync/v1/sync.js";
import type { ServiceHandlers } from "#lib/grpc-server.js";
import type { SyncEvents } from "./domain/sync-events.js";
import type { ChangeFeed } from "./feed/change-feed.js";
import { typeToProto, watchChangesHandler } from "./feed/handler.js";
import type { EventStatus, EventType, IncomingEvent, SyncEventRecord, Verification } from "./domain/types.js";

const statusToProto: Record<EventStatus, ProtoEventStatus> = {
  pending: ProtoEventStatus.EVENT_STATUS_PENDING,
  processing: ProtoEventStatus.EVENT_STATUS_PROCESSING,
  completed: ProtoEventStatus.EVENT_STATUS_COMPLETED,
  failed: ProtoEventStatus.EVENT_STATUS_FAILED,
};

const protoToType = new Map<ProtoEventType, EventType>(
  Object.entries(typeToProto).map(([type, proto]) => [proto, type as EventType]),
);

const protoToStatus = new Map<ProtoEventStatus, EventStatus>(
  Object.entries(statusToProto).map(([status, proto]) => [proto, status as EventStatus]),
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
      const page = await events.list(ctx.principal, {
        pageSize: request.pageSize,
        pageToken: request.pageToken,
        fileId: request.fileId,
        status: filterValue(request.status, protoToStatus),
        eventType: filterValue(request.eventType, protoToType),
      });
      return { events: page.events.map(toProto), nextPageToken: page.nextPageToken };
    },

    async getSyncEvent(request, ctx) {
      return { event: toProto(await events.get(ctx.principal, request.eventId)) };
    },

    async getFileSyncStatus(request, ctx) {
      const { fileId, status, latest, damage } = await events.fileStatus(ctx.principal, request.fileId, ctx.signal);
      return { fileId, status: statusToProto[status], latestEvent: latest && toProto(latest), damage: damage ?? "" };
    },

    watchChanges: watchChangesHandler(feed),
  };
}

/** UNSPECIFIED (0) means no filter; an unknown enum value becomes "?" for the domain to reject. */
function filterValue<P extends number, D extends string>(value: P, known: Map<P, D>): D | "" | "?" {
  if (value === 0) return "";
  return known.get(value) ?? "?";
}

/** Status, error_message and attempts of incoming events are ignored: new events start pending. */
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
    chunkSha256s: event.chunkSha256s,
    occurredAt: event.createdAt,
  };
}

/** Responses never carry chunk_sha256s (verification input, not for users). */
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
    attempts: event.attempts,
    verification: event.verification && toProtoVerification(event.verification),
    chunkSha256s: [],
  };
}

function toProtoVerification(v: Verification): ProtoVerification {
  return {
    syncStatus: v.syncStatus,
    chunksVerified: v.chunksVerified,
    totalChunks: v.totalChunks,
    action: v.action,
    chunksRehashed: v.chunksRehashed,
    verifiedAt: v.verifiedAt,
  };
}
