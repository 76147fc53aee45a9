/**
 * How much decoding one call may do. A produce request, a fetch, a ListOffsets lookup and a
 * compaction visit each get one budget and pass it to every batch they decode, so the work
 * of the whole call is bounded, not just that of one batch: many small decompression bombs
 * add up. Past the budget the call is refused with MESSAGE_TOO_LARGE.
 *
 * The budget also keeps long decoding from starving the event loop: decoders call
 * `maybeYield` between slices of work, and the time spent waiting for the loop is not
 * charged, so a busy server does not refuse honest requests.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DECODE_BUDGET } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';

/** Which part of a decode budget ran out; carried in the error's details. */
export type BudgetKind = 'inflatedBytes' | 'records' | 'time';

/** The limits one budget starts from. */
export interface DecodeLimits {
  maxInflatedBytes: number;
  maxRecords: number;
  maxDecodeMs: number;
}

/** The decoding work one call may still do; consume it with take*, check it with checkTime. */
export class DecodeBudget {
  readonly limits: DecodeLimits;
  /** Names the call in error messages, e.g. "This request" or "This fetch". */
  readonly subject: string;
  private inflatedBytes = 0;
  private records = 0;
  private spentMs = 0;
  private markMs: number | undefined;

  constructor(subject = 'This request', limits: DecodeLimits = DECODE_BUDGET) {
    this.subject = subject;
    this.limits = limits;
  }

  /** Decompressed bytes the call may still produce. */
  get inflatedBytesLeft(): number {
    return this.limits.maxInflatedBytes - this.inflatedBytes;
  }

  /** Records the call may still walk. */
  get recordsLeft(): number {
    return this.limits.maxRecords - this.records;
  }

  /** Charges `bytes` of decompressed output; MESSAGE_TOO_LARGE past the budget. */
  takeInflated(bytes: number): void {
    this.inflatedBytes += bytes;
    if (this.inflatedBytes > this.limits.maxInflatedBytes) throw this.exceeded('inflatedBytes');
  }

  /** Charges `count` records; MESSAGE_TOO_LARGE past the budget. */
  takeRecords(count: number): void {
    this.records += count;
    if (this.records > this.limits.maxRecords) throw this.exceeded('records');
  }

  /** Starts charging wall time (until `stop`); decoders bracket their work with these. */
  start(): void {
    this.markMs ??= performance.now();
  }

  /** Stops charging wall time. */
  stop(): void {
    if (this.markMs === undefined) return;
    this.spentMs += performance.now() - this.markMs;
    this.markMs = undefined;
  }

  /** MESSAGE_TOO_LARGE once the charged time passes the budget. */
  checkTime(): void {
    if (this.markMs === undefined) return;
    const now = performance.now();
    this.spentMs += now - this.markMs;
    this.markMs = now;
    if (this.spentMs > this.limits.maxDecodeMs) throw this.exceeded('time');
  }

  /**
   * Lets other work run once the current slice has taken DECODE_BUDGET.sliceMs; the wait
   * is not charged. Call between units of work (batches, blocks, thousands of records).
   */
  async maybeYield(): Promise<void> {
    if (this.markMs === undefined || performance.now() - this.markMs < DECODE_BUDGET.sliceMs) return;
    this.checkTime();
    this.stop();
    await nextTurn();
    this.start();
  }

  /** The error for a spent budget, naming what ran out and how to get past it. */
  exceeded(kind: BudgetKind, advice = ''): SluiceError {
    const what = {
      inflatedBytes: `decompresses to more than ${this.limits.maxInflatedBytes} bytes`,
      records: `holds more than ${this.limits.maxRecords} records`,
      time: `takes more than ${this.limits.maxDecodeMs} ms to decode`,
    }[kind];
    return new SluiceError('MESSAGE_TOO_LARGE', `${this.subject} ${what}, over the per-call decoding budget${advice}`, { details: { decodeBudget: kind } });
  }
}

/** True for the error a spent DecodeBudget throws. */
export function isBudgetExceeded(error: unknown): error is SluiceError {
  return error instanceof SluiceError && error.code === 'MESSAGE_TOO_LARGE' && typeof error.details.decodeBudget === 'string';
}
