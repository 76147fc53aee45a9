/**
 * One Record inside a RecordBatch v2 (KIP-98):
 *
 *   Record => length:varint attributes:int8 timestampDelta:varlong offsetDelta:varint
 *             keyLength:varint key:bytes valueLength:varint value:bytes
 *             headerCount:varint [Header]
 *   Header => keyLength:varint key:utf8 valueLength:varint value:bytes
 *
 * `length` counts the bytes after itself; a length of -1 encodes a null key, value or header
 * value. Header keys may not be null (Kafka rejects them). Record attributes are unused and
 * written as 0.
 */
import { SluiceError } from '../errors.ts';
import type { HeaderKeyCache } from './header-keys.ts';
import { type Cursor, readVarint, readVarlong, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.ts';

/** A record header; Kafka allows repeated keys and null values. */
export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** A record as a producer hands it to the encoder. */
export interface BatchRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  /** Milliseconds since the epoch; a safe integer. */
  timestamp: number;
}

/** A record read back from a batch, with its absolute offset. */
export interface DecodedRecord extends BatchRecord {
  /** baseOffset + offsetDelta; exact up to 2^53. */
  offset: number;
}

/** What every record of one batch shares when it is decoded. */
export interface RecordContext {
  baseOffset: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  /** For a LogAppendTime batch, the batch's maxTimestamp, which replaces every record's timestamp. */
  logAppendTime: number | null;
}

// attributes, timestampDelta, offsetDelta, keyLength, valueLength and headerCount: one byte each at least.
/** The smallest possible encoded record, its length prefix included. */
export const MIN_RECORD_BYTES = 7;

function sizeOfBytes(bytes: Uint8Array | null): number {
  return bytes === null ? 1 : sizeOfVarint(bytes.length) + bytes.length;
}

/** Size of a record's body (everything after its length prefix). */
export function sizeOfRecordBody(record: BatchRecord, offsetDelta: number, timestampDelta: number): number {
  let size = 1 + sizeOfVarlong(timestampDelta) + sizeOfVarint(offsetDelta) + sizeOfBytes(record.key) + sizeOfBytes(record.value);
  const headers = record.headers;
  size += sizeOfVarint(headers.length);
  for (let i = 0; i < headers.length; i++) {
    const header = headers[i]!;
    const keyBytes = Buffer.byteLength(header.key, 'utf8');
    size += sizeOfVarint(keyBytes) + keyBytes + sizeOfBytes(header.value);
  }
  return size;
}

function writeBytes(buf: Buffer, pos: number, bytes: Uint8Array | null): number {
  if (bytes === null) return writeVarint(buf, pos, -1);
  pos = writeVarint(buf, pos, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** Writes one record, length prefix first, at `pos`; `bodySize` comes from sizeOfRecordBody. Returns the end position. */
export function writeRecord(buf: Buffer, pos: number, record: BatchRecord, offsetDelta: number, timestampDelta: number, bodySize: number): number {
  pos = writeVarint(buf, pos, bodySize);
  buf[pos++] = 0;
  pos = writeVarlong(buf, pos, timestampDelta);
  pos = writeVarint(buf, pos, offsetDelta);
  pos = writeBytes(buf, pos, record.key);
  pos = writeBytes(buf, pos, record.value);
  const headers = record.headers;
  pos = writeVarint(buf, pos, headers.length);
  for (let i = 0; i < headers.length; i++) {
    const header = headers[i]!;
    const keyBytes = Buffer.byteLength(header.key, 'utf8');
    pos = writeVarint(buf, pos, keyBytes);
    pos += buf.write(header.key, pos, keyBytes, 'utf8');
    pos = writeBytes(buf, pos, header.value);
  }
  return pos;
}

function corrupt(index: number, message: string): SluiceError {
  return new SluiceError('CORRUPT_MESSAGE', `record ${index}: ${message}`);
}

/**
 * Reads a nullable byte field (a header's value when `header` ≥ 0) as a view of `buf`, whose
 * memory and byteOffset the caller passes in. Buffer.from(arrayBuffer) builds the same view as
 * subarray without subarray's species lookup, and the two getters are read once a record: with
 * three views a record, views are most of a record's decoding.
 */
function readBytes(buf: Buffer, c: Cursor, memory: ArrayBufferLike, base: number, index: number, field: 'key' | 'value', header = -1): Buffer | null {
  const length = readVarint(buf, c);
  if (length === -1) return null;
  if (length < -1 || length > c.end - c.pos) {
    throw corrupt(index, `${header >= 0 ? `header ${header} value` : field} length ${length} does not fit in the record`);
  }
  const start = c.pos;
  c.pos = start + length;
  return Buffer.from(memory, base + start, length);
}

/**
 * Reads record number `index` at `c.pos`, advancing past it. Keys, values and header values
 * are views into `buf`, not copies; `headerKeys`, when given, must be over `buf`. Throws CORRUPT_MESSAGE.
 */
export function readRecord(buf: Buffer, c: Cursor, context: RecordContext, index: number, headerKeys?: HeaderKeyCache): DecodedRecord {
  const bodySize = readVarint(buf, c);
  if (bodySize < 0 || bodySize > c.end - c.pos) throw corrupt(index, `length ${bodySize} does not fit in the batch`);
  const outerEnd = c.end;
  const bodyEnd = c.pos + bodySize;
  // Fields are read against the record's own end so a bad length cannot spill into the next record.
  c.end = bodyEnd;
  if (c.pos >= bodyEnd) throw corrupt(index, 'missing attributes');
  c.pos++;
  const timestampDelta = readVarlong(buf, c);
  const offsetDelta = readVarint(buf, c);
  if (offsetDelta < 0 || offsetDelta > context.lastOffsetDelta) {
    throw corrupt(index, `offset delta ${offsetDelta} is outside the batch's [0, ${context.lastOffsetDelta}]`);
  }
  const memory = buf.buffer;
  const base = buf.byteOffset;
  const key = readBytes(buf, c, memory, base, index, 'key');
  const value = readBytes(buf, c, memory, base, index, 'value');
  const headerCount = readVarint(buf, c);
  // Each header takes at least two bytes; checking first keeps a hostile count from looping long.
  if (headerCount < 0 || headerCount * 2 > bodyEnd - c.pos) throw corrupt(index, `header count ${headerCount} does not fit in the record`);
  const headers = new Array<RecordHeader>(headerCount);
  for (let h = 0; h < headerCount; h++) {
    const keyLength = readVarint(buf, c);
    if (keyLength < 0 || keyLength > bodyEnd - c.pos) throw corrupt(index, `header ${h} key length ${keyLength} is invalid`);
    const start = c.pos;
    c.pos = start + keyLength;
    const headerKey = headerKeys === undefined ? buf.toString('utf8', start, c.pos) : headerKeys.key(start, keyLength, h);
    headers[h] = { key: headerKey, value: readBytes(buf, c, memory, base, index, 'value', h) };
  }
  if (c.pos !== bodyEnd) throw corrupt(index, `${bodyEnd - c.pos} unread bytes at the end of the record`);
  c.end = outerEnd;

  let timestamp = context.logAppendTime;
  if (timestamp === null) {
    timestamp = context.baseTimestamp + timestampDelta;
    if (!Number.isSafeInteger(timestamp)) throw corrupt(index, 'timestamp is outside the safe integer range');
  }
  return { offset: context.baseOffset + offsetDelta, timestamp, key, value, headers };
}

/** What scanRecord reports of a record it walked past; reused across calls so a walk allocates nothing. */
export interface RecordScan {
  offsetDelta: number;
  keyIsNull: boolean;
  /** The record's timestamp delta from the batch's baseTimestamp. */
  timestampDelta: number;
}

function skipBytes(buf: Buffer, c: Cursor, index: number, field: string): boolean {
  const length = readVarint(buf, c);
  if (length === -1) return true;
  if (length < -1 || length > c.end - c.pos) throw corrupt(index, `${field} length ${length} does not fit in the record`);
  c.pos += length;
  return false;
}

/**
 * Validates record number `index` at `c.pos` exactly as readRecord does and advances past
 * it, without building the record: a walk over millions of records stays flat in memory.
 * Fills `into` and throws CORRUPT_MESSAGE.
 */
export function scanRecord(buf: Buffer, c: Cursor, context: RecordContext, index: number, into: RecordScan): void {
  const bodySize = readVarint(buf, c);
  if (bodySize < 0 || bodySize > c.end - c.pos) throw corrupt(index, `length ${bodySize} does not fit in the batch`);
  const outerEnd = c.end;
  const bodyEnd = c.pos + bodySize;
  c.end = bodyEnd;
  if (c.pos >= bodyEnd) throw corrupt(index, 'missing attributes');
  c.pos++;
  const timestampDelta = readVarlong(buf, c);
  const offsetDelta = readVarint(buf, c);
  if (offsetDelta < 0 || offsetDelta > context.lastOffsetDelta) {
    throw corrupt(index, `offset delta ${offsetDelta} is outside the batch's [0, ${context.lastOffsetDelta}]`);
  }
  into.keyIsNull = skipBytes(buf, c, index, 'key');
  skipBytes(buf, c, index, 'value');
  const headerCount = readVarint(buf, c);
  if (headerCount < 0 || headerCount * 2 > bodyEnd - c.pos) throw corrupt(index, `header count ${headerCount} does not fit in the record`);
  for (let h = 0; h < headerCount; h++) {
    const keyLength = readVarint(buf, c);
    if (keyLength < 0 || keyLength > bodyEnd - c.pos) throw corrupt(index, `header ${h} key length ${keyLength} is invalid`);
    c.pos += keyLength;
    skipBytes(buf, c, index, `header ${h} value`);
  }
  if (c.pos !== bodyEnd) throw corrupt(index, `${bodyEnd - c.pos} unread bytes at the end of the record`);
  c.end = outerEnd;
  if (context.logAppendTime === null && !Number.isSafeInteger(context.baseTimestamp + timestampDelta)) {
    throw corrupt(index, 'timestamp is outside the safe integer range');
  }
  into.offsetDelta = offsetDelta;
  into.timestampDelta = timestampDelta;
}
