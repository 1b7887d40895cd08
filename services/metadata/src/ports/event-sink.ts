import type { CallIdentity } from "#lib/grpc-client.js";
import type { OutboxEvent } from "../domain/types.js";

/** The sync service as the outbox relay needs it. */
export interface EventSink {
  /**
   * Records events (service identity). Event ids make it idempotent: a
   * batch sent again after a lost answer is not recorded twice. Returns how
   * many were new.
   */
  recordEvents(events: readonly OutboxEvent[], as: CallIdentity): Promise<number>;
}
