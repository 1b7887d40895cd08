/** What the catalogue says to the sweep: whose a chunk is, and whether anything still needs it. */
export interface SweepReferences {
  /** The owners behind these keys (the SHA-256 of the owner) that the catalogue knows; unknown keys are left out. */
  ownersOf(ownerKeys: readonly string[]): Promise<Map<string, string>>;
  /**
   * Those of the owner's hashes nothing refers to: no version of a file (in
   * the trash too), no upload session, and not queued for the collector.
   */
  unreferenced(owner: string, hashes: readonly string[]): Promise<string[]>;
}
