/**
 * A batch being filled for one partition, and the progress of one `send`. A batch knows its
 * exact encoded size as records arrive (the same sizes the codec computes), so it never
 * outgrows the topic's max.message.bytes; each record remembers which send it came from and
 * where, so offsets go back to the right promise in message order.
 */
import type { BatchRecord } from '../codec/record-batch.ts';
import { sizeOfRecordBody } from '../codec/record.ts';
import { sizeOfVarint } from '../codec/varint.ts';
import type { SluiceError } from '../errors.ts';
import type { Acks, RecordMetadata } from './types.ts';

/** RecordBatch v2 header bytes before the first record (baseOffset … recordCount); see lib/codec/record-batch.ts. */
export const BATCH_HEADER_BYTES = 61;
/** The frame header of application/vnd.sluice.batches (partition:int32 length:int32). */
export const FRAME_HEADER_BYTES = 8;

/** One `send`: resolves with every message's offset, in message order, or rejects with the first failure. */
export class SendTracker {
  readonly promise: Promise<RecordMetadata[]>;
  private readonly results: RecordMetadata[];
  private remaining: number;
  private settled = false;
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

  /** With acks=0 the send is done once every message is buffered. */
  buffered(): void {
    if (this.acks === 0) this.finish();
  }

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
    this.resolve(this.results);
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
    for (const tracker of new Set(this.trackers)) tracker.fail(error);
  }

  complete(): void {
    this.records = [];
    this.settle();
  }
}
