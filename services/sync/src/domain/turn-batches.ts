/**
 * Gathers what is asked in one turn of the event loop, by key, and hands
 * each key's items to `send` once that turn is over. The verification worker
 * starts all the events of a run in one turn, and their next steps run in
 * one turn again when a shared answer arrives, so their calls to a peer
 * gather here into one call instead of one each.
 */
export class TurnBatches<K, T> {
  private readonly waiting = new Map<K, T[]>();

  constructor(private readonly send: (key: K, items: T[]) => void) {}

  add(key: K, item: T): void {
    const items = this.waiting.get(key);
    if (items) {
      items.push(item);
      return;
    }
    const gathered = [item];
    this.waiting.set(key, gathered);
    setImmediate(() => {
      this.waiting.delete(key);
      this.send(key, gathered);
    });
  }
}
