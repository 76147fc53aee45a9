/**
 * Conversions between the client's message shapes and the codec's records: strings become
 * UTF-8 bytes, header objects become Kafka's ordered header list (repeated keys allowed) and
 * back. Input is checked here, once, so the accumulator only sees valid records.
 */
import type { BatchRecord, DecodedRecord, RecordHeader } from '../codec/record-batch.ts';
import { SluiceError } from '../errors.ts';
import { checkOptionKeys, MESSAGE_KEYS } from './option-keys.ts';
import type { Bytes, ConsumedHeaders, ConsumedMessage, Message, MessageHeaders } from './types.ts';

function invalidRecord(index: number, message: string): SluiceError {
  return new SluiceError('INVALID_RECORD', `messages[${index}]: ${message}`);
}

function toBytes(value: Bytes | null | undefined, index: number, field: string): Buffer | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw invalidRecord(index, `${field} must be a string, Buffer, Uint8Array or null, got ${typeof value}`);
}

function toHeaders(headers: MessageHeaders | undefined, index: number): RecordHeader[] {
  if (headers === undefined) return [];
  const out: RecordHeader[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      for (const item of value as ReadonlyArray<Bytes | null>) out.push({ key, value: toBytes(item, index, `header ${JSON.stringify(key)}`) });
    } else {
      out.push({ key, value: toBytes(value as Bytes | null, index, `header ${JSON.stringify(key)}`) });
    }
  }
  return out;
}

function toTimestamp(value: number | string | undefined, index: number, now: number): number {
  if (value === undefined) return now;
  const ms = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) throw invalidRecord(index, `timestamp must be a non-negative integer of ms, got ${JSON.stringify(value)}`);
  return ms;
}

/**
 * Checks a send's messages without converting them, so a send is refused whole or not at
 * all. Conversion waits until each message enters the buffer (`toRecord`), so a send
 * waiting for buffer space holds no copy of its data. Throws INVALID_RECORD naming the first
 * bad message.
 */
export function checkMessages(messages: readonly Message[], now: number): void {
  if (!Array.isArray(messages)) throw new SluiceError('INVALID_RECORD', 'messages must be an array');
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (typeof message !== 'object' || message === null) throw invalidRecord(i, 'must be an object with a value');
    checkOptionKeys(`messages[${i}]`, message, MESSAGE_KEYS);
    if (message.value === undefined) throw invalidRecord(i, 'value is required (null for a tombstone)');
    const partition = message.partition;
    if (partition !== undefined && (!Number.isInteger(partition) || partition < 0)) throw invalidRecord(i, `partition must be a non-negative integer, got ${JSON.stringify(partition)}`);
    checkBytes(message.key, i, 'key');
    checkBytes(message.value, i, 'value');
    for (const [key, value] of Object.entries(message.headers ?? {})) {
      for (const item of Array.isArray(value) ? (value as ReadonlyArray<Bytes | null>) : [value as Bytes | null | undefined]) checkBytes(item, i, `header ${JSON.stringify(key)}`);
    }
    toTimestamp(message.timestamp, i, now);
  }
}

function checkBytes(value: unknown, index: number, field: string): void {
  if (value !== null && value !== undefined && typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw invalidRecord(index, `${field} must be a string, Buffer, Uint8Array or null, got ${typeof value}`);
  }
}

/** The record for a checked message; `now` is the send's time, for messages without a timestamp. */
export function toRecord(message: Message, index: number, now: number): BatchRecord {
  return { key: toBytes(message.key, index, 'key'), value: toBytes(message.value, index, 'value'), headers: toHeaders(message.headers, index), timestamp: toTimestamp(message.timestamp, index, now) };
}

function byteBound(value: Bytes | null | undefined): number {
  // A UTF-16 code unit takes at most 3 bytes in UTF-8: a bound without scanning the string.
  return value === null || value === undefined ? 0 : typeof value === 'string' ? value.length * 3 : value.byteLength;
}

/** An upper bound of a message's encoded size: its bytes plus the most its varints can take. */
export function encodedSizeBound(message: Message): number {
  let size = 40 + byteBound(message.key) + byteBound(message.value);
  for (const [key, value] of Object.entries(message.headers ?? {})) {
    for (const item of Array.isArray(value) ? (value as ReadonlyArray<Bytes | null>) : [value as Bytes | null | undefined]) size += 10 + key.length * 3 + byteBound(item);
  }
  return size;
}

/** Headers as kafkajs hands them to consumers: one value per key, an array for repeated keys. */
export function headersObject(headers: readonly RecordHeader[]): ConsumedHeaders {
  const out: ConsumedHeaders = {};
  for (const { key, value } of headers) {
    const seen = out[key];
    if (seen === undefined) out[key] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else out[key] = [seen, value];
  }
  return out;
}

export function toConsumedMessage(record: DecodedRecord): ConsumedMessage {
  return { offset: record.offset, timestamp: record.timestamp, key: record.key, value: record.value, headers: record.headers.length === 0 ? {} : headersObject(record.headers) };
}
