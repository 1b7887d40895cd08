/** An outbox event the sync service refused, set aside. */
export interface DeadLetter {
  /** Its seq in the outbox when it was set aside. */
  seq: string;
  eventId: string;
  owner: string;
  fileId: string;
  eventType: string;
  name: string;
  /** What the sync service answered. */
  reason: string;
  setAsideAt: Date;
}

/** The operator's view of the dead letters (services/metadata/src/dead-letters.ts). */
export interface DeadLetters {
  /** The oldest dead letters first. */
  listDeadLetters(limit: number): Promise<DeadLetter[]>;
  /** Puts them back at the end of the outbox (the relay sends them again); resolves how many went back. */
  retryDeadLetters(seqs: readonly string[] | "all"): Promise<number>;
}
