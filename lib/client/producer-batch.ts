/**
 * A batch being filled for one partition, and the progress of one `send`. A batch knows its
 * exact encoded size as records arrive (the same sizes the codec computes), so it never
 * outgrows the topic's max.message.bytes; each record remembers which send it came from and
 * where, so offsets go back to the right promise in message order.
 */
import type { BatchRecord } from '../codec/record-batch.ts';
import { sizeOfRecordBody } from '../codec/record.ts';
import { sizeOfVarint } from '../codec/varint.ts';
import { SluiceError } from '../errors.ts';
import type { Acks, RecordMetadata } from './types.ts';

/** RecordBatch v2 header bytes before the first record (baseOffset … recordCount); see lib/codec/record-batch.ts. */
export const BATCH_HEADER_BYTES = 61;
/** The frame header of application/vnd.sluice.batches (partition:int32 length:int32). */
export const FRAME_HEADER_BYTES = 8;

/**
 * A send that failed in part, as a Kafka producer's non-transactional send can: the code,
 * status and details are those of the first failure, and `landed` lists the messages that
 * were appended nevertheless (their batches succeeded), with their offsets.
 */
export class SendError extends SluiceError {
  /** Messages appended despite the failure, by index in the send. */
  readonly landed: ReadonlyArray<RecordMetadata & { index: number }>;
  /** Indices of the messages that failed (their outcome may be unknown: see docs/CLIENT.md). */
  readonly failedIndices: readonly number[];

  constructor(first: SluiceError, landed: ReadonlyArray<RecordMetadata & { index: number }>, failedIndices: readonly number[], count: number) {
    super(first.code, `${first.message}${SendError.summary(landed, count)}`, { details: first.details, cause: first, ...(first.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: first.retryAfterSeconds }) });
    this.landed = landed;
    this.failedIndices = failedIndices;
  }

  /** `; 3 of 10 messages were appended (partition 0: offsets 5–7) …`. */
  private static summary(landed: ReadonlyArray<RecordMetadata & { index: number }>, count: number): string {
    // A failed batch's outcome can be unknown (its answer lost): say only what is known.
    const unknown = 'the failed ones were not acknowledged (one whose answer was lost may be in the log)';
    if (landed.length === 0) return `; none of the ${count} messages was acknowledged: ${unknown}`;
    const byPartition = new Map<number, number[]>();
    for (const r of landed) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r.offset]);
    const parts = [...byPartition].sort(([a], [b]) => a - b).map(([p, offsets]) => `partition ${p}: offsets ${Math.min(...offsets)}–${Math.max(...offsets)}`);
    return `; ${landed.length} of ${count} messages were appended (${parts.join(', ')}; error.landed lists them), ${unknown}`;
  }
}

/**
 * One `send`: resolves with every message's offset, in message order. A refusal before any
 * message is buffered rejects at once; otherwise it settles once every message's batch has,
 * rejecting with a SendError if any failed.
 */
export class SendTracker {
  readonly promise: Promise<RecordMetadata[]>;
  private readonly results: RecordMetadata[];
  private remaining: number;
  private settled = false;
  private firstError: SluiceError | Error | undefined;
  private readonly failedIndices: number[] = [];
  private resolve!: (value: RecordMetadata[]) => void;
  private reject!: (error: unknown) => void;

  constructor(
    readonly topic: string,
    count: number,
    readonly acks: Acks,
  ) {
    this.results = new Array<RecordMetadata>(count);
    this.remaining = count;
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    if (count === 0) this.finish();
  }

  /** Records where message `index` went (offset -1 until acknowledged). */
  placed(index: number, partition: number): void {
    this.results[index] = { topic: this.topic, partition, offset: -1 };
  }

  /** Message `index` was appended at `offset`. */
  acknowledged(index: number, offset: number): void {
    if (this.acks === 0) return;
    (this.results[index] as RecordMetadata).offset = offset;
    if (--this.remaining === 0) this.finish();
  }

  /** Message `index` failed (its batch did, or it could not be batched). */
  recordFailed(index: number, error: SluiceError | Error): void {
    // acks=0 drops delivery errors, as Kafka's fire-and-forget.
    if (this.acks === 0) return;
    this.firstError ??= error;
    this.failedIndices.push(index);
    if (--this.remaining === 0) this.finish();
  }

  /** With acks=0 the send is done once every message is buffered. */
  buffered(): void {
    if (this.acks === 0) this.finish();
  }

  /** The whole send is refused before any of it was buffered. */
  fail(error: SluiceError | Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }

  get isSettled(): boolean {
    return this.settled;
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    const first = this.firstError;
    if (first === undefined) return this.resolve(this.results);
    if (!(first instanceof SluiceError)) return this.reject(first);
    const failed = new Set(this.failedIndices);
    const landed = this.results.flatMap((r, index) => (failed.has(index) || r === undefined || r.offset < 0 ? [] : [{ ...r, index }]));
    this.reject(new SendError(first, landed, [...failed].sort((a, b) => a - b), this.results.length));
  }
}

export class ProducerBatch {
  /** Exact encoded size, uncompressed: header plus every record. Never exceeds the limit it was filled to. */
  sizeBytes = BATCH_HEADER_BYTES;
  /** Bytes reserved from the buffer for this batch; released when it completes. */
  reservedBytes = BATCH_HEADER_BYTES;
  /** No more records may join: full, or taken for sending. */
  closed = false;
  /** Emptied once encoded, so the buffer holds one copy of the data. */
  records: BatchRecord[] = [];
  /** For record i: the send it belongs to and its index there. */
  readonly trackers: SendTracker[] = [];
  readonly indices: number[] = [];
  /** Settles (never rejects) when the batch was acknowledged or failed. */
  readonly done: Promise<void>;
  private settle!: () => void;
  private baseTimestamp = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly createdAtMs: number,
  ) {
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  get recordCount(): number {
    return this.trackers.length;
  }

  /** Bytes `record` would add as the next record: length prefix and body, deltas included. */
  sizeOf(record: BatchRecord): number {
    const count = this.trackers.length;
    const body = sizeOfRecordBody(record, count, count === 0 ? 0 : record.timestamp - this.baseTimestamp);
    return sizeOfVarint(body) + body;
  }

  append(record: BatchRecord, sizeBytes: number, tracker: SendTracker, index: number): void {
    if (this.trackers.length === 0) this.baseTimestamp = record.timestamp;
    this.records.push(record);
    this.trackers.push(tracker);
    this.indices.push(index);
    this.sizeBytes += sizeBytes;
    this.reservedBytes += sizeBytes;
    tracker.placed(index, this.partition);
  }

  /** Records [start, start + count) were appended from `baseOffset` on. */
  acknowledge(start: number, count: number, baseOffset: number): void {
    for (let i = 0; i < count; i++) (this.trackers[start + i] as SendTracker).acknowledged(this.indices[start + i] as number, baseOffset + i);
  }

  fail(error: SluiceError | Error): void {
    for (const [i, tracker] of this.trackers.entries()) tracker.recordFailed(this.indices[i] as number, error);
  }

  complete(): void {
    this.records = [];
    this.settle();
  }
}
