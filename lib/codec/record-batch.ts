/*
 * RecordBatch v2 (magic 2, KIP-98), big-endian, as Kafka writes it on the wire and on disk:
 *
 *   RecordBatch => baseOffset:int64 batchLength:int32 partitionLeaderEpoch:int32 magic:int8
 *                  crc:uint32 attributes:int16 lastOffsetDelta:int32 baseTimestamp:int64
 *                  maxTimestamp:int64 producerId:int64 producerEpoch:int16 baseSequence:int32
 *                  records:[Record]
 *
 *   batchLength   bytes after the batchLength field (the whole batch is 12 + batchLength)
 *   crc           CRC-32C of attributes..end; baseOffset and partitionLeaderEpoch sit outside
 *                 it so a broker can assign them without recomputing the checksum
 *   attributes    bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)
 *                 bit 3 timestampType (1 = LogAppendTime), bit 4 transactional, bit 5 control
 *   records       count:int32 then the records (record.ts); with compression, the records
 *                 (not the count) are compressed as one block
 *
 * Offsets and timestamps are JS numbers, exact up to 2^53; a batch whose offsets or
 * timestamps fall outside that range is rejected as CORRUPT_MESSAGE rather than rounded.
 * producerId stays a bigint because Kafka's producer ids use the full int64 range.
 */
import { invalidRequest, SluiceError } from '../errors.ts';
import { type Compression, compress, compressionFromId, compressionId, decompress } from './compression.ts';
import { crc32c } from './crc32c.ts';
import type { DecodeBudget } from './decode-budget.ts';
import { HeaderKeyCache } from './header-keys.ts';
import { type BatchRecord, type DecodedRecord, MIN_RECORD_BYTES, type RecordContext, type RecordScan, readRecord, scanRecord, sizeOfRecordBody, writeRecord } from './record.ts';
import { type Cursor, sizeOfVarint } from './varint.ts';

export type { BatchRecord, DecodedRecord, RecordHeader } from './record.ts';
export type { Compression } from './compression.ts';

/** Which clock a batch's timestamps come from. */
export type TimestampType = 'CreateTime' | 'LogAppendTime';

/** Every field of a batch header, decoded. */
export interface BatchHeader {
  baseOffset: number;
  /** Bytes after the batchLength field. */
  batchLength: number;
  /** 12 + batchLength: the whole batch. */
  sizeBytes: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  compression: Compression;
  timestampType: TimestampType;
  isTransactional: boolean;
  isControl: boolean;
  lastOffsetDelta: number;
  recordCount: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
}

/** Batch-level fields for encodeRecordBatch; each defaults to what a non-idempotent Kafka producer sends. */
export interface EncodeBatchOptions {
  /** @default 'none' */
  compression?: Compression;
  /** @default 0 - the broker assigns the real offset on append */
  baseOffset?: number;
  /** @default -1n - no idempotent producer */
  producerId?: bigint;
  /** @default -1 */
  producerEpoch?: number;
  /** @default -1 */
  baseSequence?: number;
  /** @default 'CreateTime' */
  timestampType?: TimestampType;
  /** @default -1 */
  partitionLeaderEpoch?: number;
}

// Field positions, relative to the start of the batch.
const BASE_OFFSET = 0;
const BATCH_LENGTH = 8;
const PARTITION_LEADER_EPOCH = 12;
const MAGIC = 16;
const CRC = 17;
const ATTRIBUTES = 21;
const LAST_OFFSET_DELTA = 23;
const BASE_TIMESTAMP = 27;
const MAX_TIMESTAMP = 35;
const PRODUCER_ID = 43;
const PRODUCER_EPOCH = 51;
const BASE_SEQUENCE = 53;
const RECORD_COUNT = 57;
const RECORDS = 61;
/** baseOffset and batchLength: the bytes batchLength does not count. */
const LOG_OVERHEAD = 12;
const CURRENT_MAGIC = 2;

const COMPRESSION_MASK = 0x07;
const LOG_APPEND_TIME_FLAG = 0x08;
const TRANSACTIONAL_FLAG = 0x10;
const CONTROL_FLAG = 0x20;

const TWO_32 = 2 ** 32;

function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

function writeInt64(buf: Buffer, pos: number, value: number): void {
  const high = Math.floor(value / TWO_32);
  buf.writeInt32BE(high, pos);
  buf.writeUInt32BE(value - high * TWO_32, pos + 4);
}

function corrupt(where: string, message: string): SluiceError {
  return new SluiceError('CORRUPT_MESSAGE', `${where}: ${message}`);
}

function parseHeader(buf: Buffer, position: number, where: string): BatchHeader {
  if (!Number.isInteger(position) || position < 0 || position > buf.length) throw corrupt(where, `position is outside a ${buf.length}-byte buffer`);
  const available = buf.length - position;
  if (available < RECORDS) throw corrupt(where, `truncated: ${available} bytes, a batch header needs ${RECORDS}`);
  const magic = buf.readInt8(position + MAGIC);
  if (magic !== CURRENT_MAGIC) throw corrupt(where, `magic is ${magic}; only RecordBatch v2 (magic 2) is supported`);
  const batchLength = buf.readInt32BE(position + BATCH_LENGTH);
  if (batchLength < RECORDS - LOG_OVERHEAD) throw corrupt(where, `batchLength ${batchLength} is smaller than a batch header`);
  if (batchLength > available - LOG_OVERHEAD) throw corrupt(where, `batchLength ${batchLength} overruns the buffer (${available - LOG_OVERHEAD} bytes remain)`);
  const baseOffset = readInt64(buf, position + BASE_OFFSET);
  const lastOffsetDelta = buf.readInt32BE(position + LAST_OFFSET_DELTA);
  const recordCount = buf.readInt32BE(position + RECORD_COUNT);
  if (baseOffset < 0 || !Number.isSafeInteger(baseOffset + lastOffsetDelta)) throw corrupt(where, `baseOffset ${baseOffset} is outside [0, 2^53)`);
  if (lastOffsetDelta < 0) throw corrupt(where, `lastOffsetDelta ${lastOffsetDelta} is negative`);
  // Offsets within a batch are distinct, so compaction can only shrink the count below lastOffsetDelta + 1.
  if (recordCount < 0 || recordCount > lastOffsetDelta + 1) {
    throw corrupt(where, `record count ${recordCount} does not match lastOffsetDelta ${lastOffsetDelta}`);
  }
  const baseTimestamp = readInt64(buf, position + BASE_TIMESTAMP);
  const maxTimestamp = readInt64(buf, position + MAX_TIMESTAMP);
  if (!Number.isSafeInteger(baseTimestamp) || !Number.isSafeInteger(maxTimestamp)) throw corrupt(where, 'timestamp is outside the safe integer range');
  const attributes = buf.readInt16BE(position + ATTRIBUTES);
  return {
    baseOffset,
    batchLength,
    sizeBytes: LOG_OVERHEAD + batchLength,
    partitionLeaderEpoch: buf.readInt32BE(position + PARTITION_LEADER_EPOCH),
    magic,
    crc: buf.readUInt32BE(position + CRC),
    compression: compressionFromId(attributes & COMPRESSION_MASK),
    timestampType: attributes & LOG_APPEND_TIME_FLAG ? 'LogAppendTime' : 'CreateTime',
    isTransactional: (attributes & TRANSACTIONAL_FLAG) !== 0,
    isControl: (attributes & CONTROL_FLAG) !== 0,
    lastOffsetDelta,
    recordCount,
    baseTimestamp,
    maxTimestamp,
    producerId: buf.readBigInt64BE(position + PRODUCER_ID),
    producerEpoch: buf.readInt16BE(position + PRODUCER_EPOCH),
    baseSequence: buf.readInt32BE(position + BASE_SEQUENCE),
  };
}

function verifyCrc(buf: Buffer, position: number, header: BatchHeader, where: string): void {
  const actual = crc32c(buf, position + ATTRIBUTES, position + header.sizeBytes);
  if (actual !== header.crc) {
    throw corrupt(where, `CRC-32C mismatch: header says 0x${header.crc.toString(16).padStart(8, '0')}, content is 0x${actual.toString(16).padStart(8, '0')}`);
  }
}

/**
 * Reads and validates a batch header at `position` (magic must be 2, length must fit in buf);
 * does not check the CRC. Throws CORRUPT_MESSAGE, or UNSUPPORTED_COMPRESSION_TYPE for codec ids 5-7.
 */
export function readBatchHeader(buf: Buffer, position = 0): BatchHeader {
  return parseHeader(buf, position, `batch at byte ${position}`);
}

/** Walks concatenated batches, verifying magic, lengths and CRC-32C of each; the whole buffer must be consumed exactly. Throws CORRUPT_MESSAGE. */
export function splitBatches(buf: Buffer): Array<{ start: number; end: number; header: BatchHeader }> {
  const batches: Array<{ start: number; end: number; header: BatchHeader }> = [];
  let start = 0;
  while (start < buf.length) {
    const where = `batch ${batches.length} at byte ${start}`;
    const header = parseHeader(buf, start, where);
    verifyCrc(buf, start, header, where);
    const end = start + header.sizeBytes;
    batches.push({ start, end, header });
    start = end;
  }
  return batches;
}

/**
 * Overwrites the baseOffset field (outside the CRC) in place. Throws CORRUPT_MESSAGE if no
 * batch header fits at `position`, and RangeError for an offset outside [0, 2^53) (a caller bug).
 * IMPORTANT: mutates `buf`.
 */
export function setBaseOffset(buf: Buffer, position: number, baseOffset: number): void {
  if (!Number.isSafeInteger(baseOffset) || baseOffset < 0) throw new RangeError(`baseOffset ${baseOffset} is not an integer in [0, 2^53)`);
  if (!Number.isInteger(position) || position < 0 || buf.length - position < RECORDS) {
    throw corrupt(`batch at byte ${position}`, 'no batch header fits here');
  }
  writeInt64(buf, position + BASE_OFFSET, baseOffset);
}

/**
 * Kafka broker's LogAppendTime stamping: sets the timestampType bit and maxTimestamp,
 * recomputes the CRC, in place. IMPORTANT: mutates `buf`; the batch must already be validated.
 */
export function stampLogAppendTime(buf: Buffer, position: number, timestampMs: number): void {
  if (!Number.isSafeInteger(timestampMs)) throw new RangeError(`timestamp ${timestampMs} is not a safe integer`);
  const header = readBatchHeader(buf, position);
  buf.writeInt16BE(buf.readInt16BE(position + ATTRIBUTES) | LOG_APPEND_TIME_FLAG, position + ATTRIBUTES);
  writeInt64(buf, position + MAX_TIMESTAMP, timestampMs);
  buf.writeUInt32BE(crc32c(buf, position + ATTRIBUTES, position + header.sizeBytes), position + CRC);
}

/** Records walked between checks of a budget's clock. */
const RECORDS_PER_SLICE_CHECK = 4096;

/**
 * A batch opened for reading one record at a time: header parsed, CRC verified, records
 * decompressed, none decoded yet. Each record read or skipped is charged to the budget,
 * so a reader that stops early (a fetch's maxRecords) never pays for the rest.
 */
export class RecordReader {
  readonly header: BatchHeader;
  private readonly payload: Buffer;
  private readonly cursor: Cursor;
  private readonly context: RecordContext;
  private readonly where: string;
  private readonly budget: DecodeBudget | undefined;
  private readonly scan: RecordScan = { offsetDelta: 0, keyIsNull: false, timestampDelta: 0 };
  private readonly headerKeys: HeaderKeyCache;
  private index = 0;

  constructor(header: BatchHeader, payload: Buffer, where: string, budget: DecodeBudget | undefined) {
    this.header = header;
    this.payload = payload;
    this.where = where;
    this.budget = budget;
    this.cursor = { pos: 0, end: payload.length };
    this.headerKeys = new HeaderKeyCache(payload);
    this.context = {
      baseOffset: header.baseOffset,
      lastOffsetDelta: header.lastOffsetDelta,
      baseTimestamp: header.baseTimestamp,
      logAppendTime: header.timestampType === 'LogAppendTime' ? header.maxTimestamp : null,
    };
  }

  /** The next record, or undefined after the last (when no bytes may be left over). Throws CORRUPT_MESSAGE. */
  next(): DecodedRecord | undefined {
    if (this.atEnd()) return undefined;
    this.charge();
    try {
      return readRecord(this.payload, this.cursor, this.context, this.index++, this.headerKeys);
    } catch (error) {
      throw this.located(error);
    }
  }

  /**
   * Walks past the records below `offset` without building them, yielding to the event
   * loop between slices; the next `next()` returns the first record at or after it.
   */
  async skipTo(offset: number): Promise<void> {
    const budget = this.budget;
    budget?.start();
    try {
      while (!this.atEnd()) {
        const pos = this.cursor.pos;
        this.walk();
        if (this.header.baseOffset + this.scan.offsetDelta >= offset) {
          this.cursor.pos = pos;
          this.index--;
          this.budget?.takeRecords(-1);
          return;
        }
        if (this.index % RECORDS_PER_SLICE_CHECK === 0) await budget?.maybeYield();
      }
    } finally {
      budget?.stop();
    }
  }

  /**
   * Walks every remaining record without building any, as a producer's batch must be:
   * offset deltas exactly 0..n-1, checked as it goes so the first lie stops the walk.
   * Returns the index of the first record with a null key, or -1.
   */
  async validateProducerRecords(): Promise<{ firstKeyless: number; maxTimestamp: number }> {
    const budget = this.budget;
    let firstKeyless = -1;
    let maxTimestampDelta = -Infinity;
    budget?.start();
    try {
      while (!this.atEnd()) {
        const i = this.index;
        this.walk();
        if (this.scan.offsetDelta !== i) {
          throw new SluiceError('INVALID_RECORD', `${this.where}: record ${i} has offset delta ${this.scan.offsetDelta}; a producer batch has deltas 0..${this.header.recordCount - 1}`);
        }
        if (this.scan.keyIsNull && firstKeyless === -1) firstKeyless = i;
        if (this.scan.timestampDelta > maxTimestampDelta) maxTimestampDelta = this.scan.timestampDelta;
        if (this.index % RECORDS_PER_SLICE_CHECK === 0) await budget?.maybeYield();
      }
    } finally {
      budget?.stop();
    }
    return { firstKeyless, maxTimestamp: this.header.baseTimestamp + maxTimestampDelta };
  }

  private walk(): void {
    this.charge();
    try {
      scanRecord(this.payload, this.cursor, this.context, this.index++, this.scan);
    } catch (error) {
      throw this.located(error);
    }
  }

  private charge(): void {
    if (this.budget === undefined) return;
    this.budget.takeRecords(1);
    if (this.index % RECORDS_PER_SLICE_CHECK === 0) this.budget.checkTime();
  }

  private atEnd(): boolean {
    if (this.index < this.header.recordCount) return false;
    if (this.cursor.pos !== this.payload.length) throw corrupt(this.where, `${this.payload.length - this.cursor.pos} bytes left over after ${this.header.recordCount} records`);
    return true;
  }

  private located(error: unknown): unknown {
    return error instanceof SluiceError ? new SluiceError(error.code, `${this.where}: ${error.message}`) : error;
  }
}

/**
 * Opens one batch for reading (verifying its CRC, decompressing as needed), charging the
 * decompression to `budget`. In a LogAppendTime batch every record's timestamp is
 * maxTimestamp, as in Kafka. Throws CORRUPT_MESSAGE, or the budget's MESSAGE_TOO_LARGE.
 */
export async function openRecordBatch(buf: Buffer, position = 0, budget?: DecodeBudget): Promise<RecordReader> {
  const where = `batch at byte ${position}`;
  const header = parseHeader(buf, position, where);
  verifyCrc(buf, position, header, where);
  const count = header.recordCount;
  const section = buf.subarray(position + RECORDS, position + header.sizeBytes);
  // Like Kafka, an empty batch (left by compaction) has nothing to decompress, whatever its codec bits say.
  if (count === 0) return new RecordReader(header, section.subarray(section.length), where, budget);
  budget?.start();
  let payload: Buffer;
  try {
    payload = header.compression === 'none' ? section : await decompress(header.compression, section, budget);
    budget?.checkTime();
  } finally {
    budget?.stop();
  }
  if (count > payload.length / MIN_RECORD_BYTES) throw corrupt(where, `${count} records cannot fit in ${payload.length} bytes`);
  return new RecordReader(header, payload, where, budget);
}

/**
 * Validates a batch a producer sent without building its records: the record count is
 * checked against the budget before anything is decompressed, and every record is walked
 * with its offset delta checked against its position. Returns the first keyless record's
 * index (-1 for none). Throws CORRUPT_MESSAGE, INVALID_RECORD or MESSAGE_TOO_LARGE.
 */
export async function validateProducerBatch(buf: Buffer, budget: DecodeBudget): Promise<{ header: BatchHeader; firstKeyless: number; maxRecordTimestamp: number }> {
  const header = parseHeader(buf, 0, 'batch at byte 0');
  if (header.recordCount > budget.recordsLeft) throw budget.exceeded('records');
  const reader = await openRecordBatch(buf, 0, budget);
  const { firstKeyless, maxTimestamp } = await reader.validateProducerRecords();
  return { header, firstKeyless, maxRecordTimestamp: maxTimestamp };
}

/**
 * Decodes one batch (verifying its CRC, decompressing as needed) into records with absolute
 * offsets and timestamps; in a LogAppendTime batch every record's timestamp is maxTimestamp,
 * as in Kafka. Keys and values of uncompressed batches are views into `buf`. Throws
 * CORRUPT_MESSAGE, or MESSAGE_TOO_LARGE once `budget` is spent.
 */
export async function decodeRecordBatch(buf: Buffer, position = 0, budget?: DecodeBudget): Promise<{ header: BatchHeader; records: DecodedRecord[] }> {
  const reader = await openRecordBatch(buf, position, budget);
  const records: DecodedRecord[] = new Array<DecodedRecord>(reader.header.recordCount);
  for (let i = 0; i < records.length; i++) records[i] = reader.next() as DecodedRecord;
  // Reaching the end checks that no bytes are left over.
  reader.next();
  return { header: reader.header, records };
}

/** Encodes records into one RecordBatch v2. Offsets are assigned baseOffset + index. Throws INVALID_RECORD for an empty list. */
export async function encodeRecordBatch(records: readonly BatchRecord[], options: EncodeBatchOptions = {}): Promise<Buffer> {
  return encodeBatch(records, options, undefined);
}

/** What log compaction keeps of a batch it rewrites (Kafka's cleaner does the same). */
interface Retained {
  /** Each kept record's offset delta in the original batch. */
  offsetDeltas: Int32Array;
  /** The original batch's, so the batch still spans the same offsets. */
  lastOffsetDelta: number;
  /** The original batch's, for LogAppendTime batches and empty ones. */
  baseTimestamp: number;
  maxTimestamp: number;
}

/**
 * Re-encodes a batch for log compaction: only `kept` records (decoded from `header`'s
 * batch, absolute offsets), each at its original offset delta; compression, timestamp
 * type, producer fields and lastOffsetDelta unchanged. With nothing kept, an empty batch
 * (record count 0) still spans the original offsets, as Kafka's cleaner may leave.
 */
export async function encodeRetainedBatch(header: BatchHeader, kept: readonly DecodedRecord[]): Promise<Buffer> {
  const options: EncodeBatchOptions = {
    compression: header.compression,
    baseOffset: header.baseOffset,
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    timestampType: header.timestampType,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
  };
  const offsetDeltas = Int32Array.from(kept, (r) => r.offset - header.baseOffset);
  return encodeBatch(kept, options, { offsetDeltas, lastOffsetDelta: header.lastOffsetDelta, baseTimestamp: header.baseTimestamp, maxTimestamp: header.maxTimestamp });
}

async function encodeBatch(records: readonly BatchRecord[], options: EncodeBatchOptions, retained: Retained | undefined): Promise<Buffer> {
  const codec = options.compression ?? 'none';
  const baseOffset = options.baseOffset ?? 0;
  const producerId = options.producerId ?? -1n;
  const producerEpoch = options.producerEpoch ?? -1;
  const baseSequence = options.baseSequence ?? -1;
  const partitionLeaderEpoch = options.partitionLeaderEpoch ?? -1;
  const logAppendTime = options.timestampType === 'LogAppendTime';
  validateOptions(baseOffset, producerId, producerEpoch, baseSequence, partitionLeaderEpoch, records.length);
  const count = records.length;
  // Kafka's MemoryRecordsBuilder has no empty batches to write either; only compaction leaves them.
  if (count === 0 && retained === undefined) throw new SluiceError('INVALID_RECORD', 'cannot encode a record batch with no records');
  const deltaOf = (i: number): number => (retained === undefined ? i : retained.offsetDeltas[i]!);

  // Size everything first so the records are written once into one exact allocation.
  const baseTimestamp = count === 0 ? (retained as Retained).baseTimestamp : records[0]!.timestamp;
  let maxTimestamp = baseTimestamp;
  const bodySizes = new Int32Array(count);
  let recordsBytes = 0;
  for (let i = 0; i < count; i++) {
    const record = records[i]!;
    const timestamp = record.timestamp;
    if (!Number.isSafeInteger(timestamp) || !Number.isSafeInteger(timestamp - baseTimestamp)) {
      throw new SluiceError('INVALID_RECORD', `record ${i}: timestamp ${timestamp} is not a safe integer in range of the first record's`);
    }
    if (timestamp > maxTimestamp) maxTimestamp = timestamp;
    const bodySize = sizeOfRecordBody(record, deltaOf(i), timestamp - baseTimestamp);
    bodySizes[i] = bodySize;
    recordsBytes += sizeOfVarint(bodySize) + bodySize;
  }

  // A LogAppendTime batch's records all read as its maxTimestamp, and an empty one keeps its own.
  if (retained !== undefined && (logAppendTime || count === 0)) maxTimestamp = retained.maxTimestamp;
  let out: Buffer;
  if (codec === 'none' || count === 0) {
    out = Buffer.allocUnsafe(RECORDS + recordsBytes);
    writeRecords(out, RECORDS, records, bodySizes, baseTimestamp, recordsBytes, deltaOf);
  } else {
    const plain = Buffer.allocUnsafe(recordsBytes);
    writeRecords(plain, 0, records, bodySizes, baseTimestamp, recordsBytes, deltaOf);
    const compressed = await compress(codec, plain);
    out = Buffer.allocUnsafe(RECORDS + compressed.length);
    compressed.copy(out, RECORDS);
  }

  writeInt64(out, BASE_OFFSET, baseOffset);
  out.writeInt32BE(out.length - LOG_OVERHEAD, BATCH_LENGTH);
  out.writeInt32BE(partitionLeaderEpoch, PARTITION_LEADER_EPOCH);
  out.writeInt8(CURRENT_MAGIC, MAGIC);
  out.writeInt16BE(compressionId(codec) | (logAppendTime ? LOG_APPEND_TIME_FLAG : 0), ATTRIBUTES);
  out.writeInt32BE(retained?.lastOffsetDelta ?? count - 1, LAST_OFFSET_DELTA);
  writeInt64(out, BASE_TIMESTAMP, baseTimestamp);
  writeInt64(out, MAX_TIMESTAMP, maxTimestamp);
  out.writeBigInt64BE(producerId, PRODUCER_ID);
  out.writeInt16BE(producerEpoch, PRODUCER_EPOCH);
  out.writeInt32BE(baseSequence, BASE_SEQUENCE);
  out.writeInt32BE(count, RECORD_COUNT);
  out.writeUInt32BE(crc32c(out, ATTRIBUTES, out.length), CRC);
  return out;
}

function writeRecords(buf: Buffer, start: number, records: readonly BatchRecord[], bodySizes: Int32Array, baseTimestamp: number, expectedBytes: number, deltaOf: (i: number) => number): void {
  let pos = start;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    pos = writeRecord(buf, pos, record, deltaOf(i), record.timestamp - baseTimestamp, bodySizes[i]!);
  }
  // allocUnsafe memory is only safe to send if every byte was written.
  if (pos - start !== expectedBytes) throw new Error(`record encoder wrote ${pos - start} bytes, sized ${expectedBytes}`);
}

function validateOptions(baseOffset: number, producerId: bigint, producerEpoch: number, baseSequence: number, leaderEpoch: number, count: number): void {
  if (!Number.isSafeInteger(baseOffset) || baseOffset < 0 || !Number.isSafeInteger(baseOffset + count)) {
    throw invalidRequest(`baseOffset ${baseOffset} is not an integer in [0, 2^53)`);
  }
  if (BigInt.asIntN(64, producerId) !== producerId) throw invalidRequest(`producerId ${producerId} is not an int64`);
  if (!Number.isInteger(producerEpoch) || producerEpoch < -32768 || producerEpoch > 32767) throw invalidRequest(`producerEpoch ${producerEpoch} is not an int16`);
  for (const [name, value] of [['baseSequence', baseSequence], ['partitionLeaderEpoch', leaderEpoch]] as const) {
    if (!Number.isInteger(value) || (value | 0) !== value) throw invalidRequest(`${name} ${value} is not an int32`);
  }
}
