import { EventType as ProtoEventType, type WatchChangesRequest, type WatchChangesResponse } from "#gen/cfs/sync/v1/sync.js";
import type { RequestContext } from "#lib/grpc-server.js";
import type { EventType } from "../domain/types.js";
import type { ChangeFeed } from "./change-feed.js";

/** The event types as the API names them (ListSyncEvents and the feed alike). */
export const typeToProto: Record<EventType, ProtoEventType> = {
  upload: ProtoEventType.EVENT_TYPE_UPLOAD,
  update: ProtoEventType.EVENT_TYPE_UPDATE,
  delete: ProtoEventType.EVENT_TYPE_DELETE,
  move: ProtoEventType.EVENT_TYPE_MOVE,
  restore: ProtoEventType.EVENT_TYPE_RESTORE,
  trash: ProtoEventType.EVENT_TYPE_TRASH,
  undelete: ProtoEventType.EVENT_TYPE_UNDELETE,
  purge: ProtoEventType.EVENT_TYPE_PURGE,
  damaged: ProtoEventType.EVENT_TYPE_DAMAGED,
};

/** SyncService.WatchChanges: translates the feed's messages to proto. The user is the caller, never a field. */
export function watchChangesHandler(feed: ChangeFeed) {
  return async function* watchChanges(request: WatchChangesRequest, ctx: RequestContext): AsyncGenerator<WatchChangesResponse> {
    for await (const { change, cursor } of feed.watch(ctx.principal, request.cursor, ctx.signal)) {
      yield {
        change: change && {
          fileId: change.fileId,
          name: change.name,
          eventType: typeToProto[change.eventType],
          version: change.version,
          size: change.size,
          sha256: change.sha256,
          committedAt: change.committedAt,
        },
        cursor,
      };
    }
  };
}
