import { Counter, Gauge, type Registry } from "prom-client";
import type { Logger } from "pino";
import type { OutboxStore } from "../ports/outbox-store.js";

/** The outbox relay's dead letters: how many were set aside, and how many wait for an operator now. */
export class OutboxMetrics {
  private readonly setAsideTotal: Counter<"event_type">;

  constructor(registry: Registry, outbox: OutboxStore, log: Logger) {
    this.setAsideTotal = new Counter({
      name: "cfs_outbox_dead_lettered_total",
      help: "Outbox events the sync service refused (malformed or too large), set aside as dead letters, by event type.",
      labelNames: ["event_type"],
      registers: [registry],
    });
    new Gauge({
      name: "cfs_outbox_dead_letters",
      help: "Dead letters waiting for an operator (services/metadata/src/dead-letters.ts list / retry).",
      registers: [registry],
      async collect() {
        try {
          this.set(await outbox.deadLetterCount());
        } catch (err) {
          log.warn({ err }, "could not count dead letters for metrics");
        }
      },
    });
  }

  readonly setAside = (event: { eventType: string }): void => {
    this.setAsideTotal.inc({ event_type: event.eventType });
  };
}
