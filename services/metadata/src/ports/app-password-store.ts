/** One stored app password (the secret only as its hash). */
export interface AppPasswordRecord {
  id: string;
  owner: string;
  label: string;
  lookupKey: string;
  secretHash: string;
  createdAt: Date;
  lastUsedAt: Date | undefined;
}

/** Where app passwords live (PostgreSQL). Every read and delete but the lookup is scoped to an owner. */
export interface AppPasswordStore {
  /** False when the lookup key is taken (the caller draws another secret). */
  insert(record: Omit<AppPasswordRecord, "createdAt" | "lastUsedAt">): Promise<AppPasswordRecord | undefined>;
  /** Newest first. */
  list(owner: string): Promise<AppPasswordRecord[]>;
  count(owner: string): Promise<number>;
  /** True when it existed and is gone. */
  remove(owner: string, id: string): Promise<boolean>;
  findByLookupKey(lookupKey: string): Promise<AppPasswordRecord | undefined>;
  markUsed(id: string): Promise<void>;
}
