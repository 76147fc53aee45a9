/**
 * How a retry topic's record waits for its due time without a handler sleeping: the handler
 * throws `RecordNotDue`, and the consumer (consumer.ts) treats the record as not handled —
 * it is neither counted as processed nor committed — and pauses its partition until the due
 * time, then hands the same record out again. Other partitions carry on meanwhile.
 */
export class RecordNotDue extends Error {
  constructor(
    /** When the record may be handled, in ms since the epoch. */
    readonly dueAtMs: number,
  ) {
    super(`Not due until ${new Date(dueAtMs).toISOString()}`);
    this.name = 'RecordNotDue';
  }
}
