/**
 * Coalesced consistent reads: concurrent callers in one process that want the same item
 * share one read, without ever getting a value older than their own call. A caller that
 * arrives while a read is in flight does not join it (it may have been sent before the
 * caller's own writes or before a change it just learnt of); it waits for the next read,
 * which starts once the current one settles and serves everyone who arrived meanwhile. So
 * every caller gets a read that started after it called: what a read of its own would
 * give, at one read per round trip instead of one per caller.
 */

interface Flight<T> {
  current?: Promise<T>;
  next?: Promise<T>;
}

/** Coalescing state for one kind of read; keys name the item read. */
export class CoalescedReads<T> {
  private readonly flights = new Map<string, Flight<T>>();

  /** The value of a `read()` of `key` that started no earlier than this call. */
  read(key: string, read: () => Promise<T>): Promise<T> {
    let flight = this.flights.get(key);
    if (flight === undefined) {
      flight = {};
      this.flights.set(key, flight);
    }
    const current = flight.current;
    if (current === undefined) return this.start(key, flight, read);
    if (flight.next === undefined) {
      const waiting = flight;
      waiting.next = current.then(
        () => undefined,
        () => undefined,
      ).then(() => {
        waiting.next = undefined;
        return this.start(key, waiting, read);
      });
    }
    return flight.next as Promise<T>;
  }

  private start(key: string, flight: Flight<T>, read: () => Promise<T>): Promise<T> {
    const reading = read();
    flight.current = reading;
    const done = () => {
      if (flight.current !== reading) return;
      flight.current = undefined;
      if (flight.next === undefined) this.flights.delete(key);
    };
    reading.then(done, done);
    return reading;
  }
}
