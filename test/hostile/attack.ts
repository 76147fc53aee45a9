/**
 * What every hostile-input test measures around one attack: the answer, the state before
 * and after (every table item and every object key), the wall time and peak RSS growth of
 * this process (the local stack serves from it), and /v1/health answering while it runs.
 */
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { compress, compressionId, type Compression } from '../../lib/codec/compression.ts';
import { crc32c } from '../../lib/codec/crc32c.ts';
import { partitionPk, type IndexEntryItem } from '../../lib/storage/schema.ts';
import { api } from '../support/stack.ts';

export interface Answer {
  status: number;
  error: string | undefined;
  message: string;
  bytes: number;
  headers: Headers;
  body: Buffer;
}

export interface AttackReport<T = Answer> {
  answer: T;
  elapsedMs: number;
  peakRssGrowthBytes: number;
  /** Health checks that completed with 200 after the attack started. */
  healthAnswers: number;
  /** The slowest health check begun while the attack ran. */
  slowestHealthMs: number;
  stateBefore: string;
  stateAfter: string;
}

/** The four things every attack must leave true: the answer, the state, time and memory, health. */
export function expectContained(report: AttackReport, status: number, errors: readonly string[], limits: { ms: number; rssBytes: number }): void {
  expect(report.answer.status, report.answer.message).toBe(status);
  expect(errors).toContain(report.answer.error);
  expect(report.stateAfter).toBe(report.stateBefore);
  expect(report.elapsedMs).toBeLessThan(limits.ms);
  expect(report.peakRssGrowthBytes).toBeLessThan(limits.rssBytes);
  expect(report.healthAnswers).toBeGreaterThan(0);
  // One batch's synchronous zstd decode is the longest the loop is held (~80 ms unloaded);
  // the bound leaves room for a CI machine running other suites.
  expect(report.slowestHealthMs).toBeLessThan(2_000);
}

/** Every table item and every object key: a refused request changes neither. */
export async function snapshot(stack: LocalStack): Promise<string> {
  const items: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await stack.storage.ddb.send(new ScanCommand({ TableName: stack.storage.env.tableName, ConsistentRead: true, ExclusiveStartKey: startKey }));
    for (const item of page.Items ?? []) items.push(JSON.stringify(item));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  const objects = await stack.storage.s3.send(new ListObjectsV2Command({ Bucket: stack.storage.env.bucketName }));
  return JSON.stringify({ items: items.sort(), keys: (objects.Contents ?? []).map((o) => o.Key).sort() });
}

/** Sends one request and reads the whole answer. */
export async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const body = Buffer.from(await response.arrayBuffer());
  let error: string | undefined;
  let message = '';
  if ((response.headers.get('content-type') ?? '').startsWith('application/json') && response.status >= 400) {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: string; message?: string };
    error = parsed.error;
    message = parsed.message ?? '';
  }
  return { status: response.status, error, message, bytes: body.length, headers: response.headers, body };
}

/** Runs `attack` while polling /v1/health and sampling RSS; snapshots state before and after. */
export async function underAttack<T = Answer>(stack: LocalStack, attack: () => Promise<T>): Promise<AttackReport<T>> {
  const stateBefore = await snapshot(stack);
  let running = true;
  let healthAnswers = 0;
  let slowestHealthMs = 0;
  const baseRss = process.memoryUsage().rss;
  let peakRss = baseRss;
  const sample = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 10);
  const health = (async () => {
    while (running) {
      const started = performance.now();
      const res = await fetch(`${stack.url}/v1/health`);
      await res.arrayBuffer();
      slowestHealthMs = Math.max(slowestHealthMs, performance.now() - started);
      if (res.status === 200) healthAnswers++;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  // The first health check runs before the attack starts, so the poller is warm.
  while (healthAnswers === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  healthAnswers = 0;
  slowestHealthMs = 0;
  const started = performance.now();
  let elapsedMs = 0;
  let answer: T;
  try {
    answer = await attack();
  } finally {
    elapsedMs = performance.now() - started;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    // Let one more health check finish, so a check begun during the attack is counted.
    const seen = healthAnswers;
    while (healthAnswers === seen) await new Promise((resolve) => setTimeout(resolve, 5));
    running = false;
    await health;
    clearInterval(sample);
  }
  return { answer, elapsedMs, peakRssGrowthBytes: peakRss - baseRss, healthAnswers, slowestHealthMs, stateBefore, stateAfter: await snapshot(stack) };
}

/** The fields of a RecordBatch v2 header a hostile producer may set to anything. */
export interface RawBatch {
  compression: Compression;
  recordCount: number;
  lastOffsetDelta: number;
  /** The records section as it travels (already compressed, for a codec). */
  records: Buffer;
  baseTimestamp?: number;
  maxTimestamp?: number;
}

/** Builds a batch with a correct CRC around whatever records section it is given. */
export function rawBatch(raw: RawBatch): Buffer {
  const out = Buffer.alloc(61 + raw.records.length);
  out.writeBigInt64BE(0n, 0);
  out.writeInt32BE(out.length - 12, 8);
  out.writeInt32BE(-1, 12);
  out.writeInt8(2, 16);
  out.writeInt16BE(compressionId(raw.compression), 21);
  out.writeInt32BE(raw.lastOffsetDelta, 23);
  out.writeBigInt64BE(BigInt(raw.baseTimestamp ?? 1), 27);
  out.writeBigInt64BE(BigInt(raw.maxTimestamp ?? raw.baseTimestamp ?? 1), 35);
  out.writeBigInt64BE(-1n, 43);
  out.writeInt16BE(-1, 51);
  out.writeInt32BE(-1, 53);
  out.writeInt32BE(raw.recordCount, 57);
  raw.records.copy(out, 61);
  out.writeUInt32BE(crc32c(out, 21, out.length), 17);
  return out;
}

/** One record (length-prefixed) with a null key, `valueBytes` zero bytes of value and no headers. */
export function zeroRecord(valueBytes: number, offsetDelta = 0): Buffer {
  const body: number[] = [0, 0, zigzag(offsetDelta), 1];
  const valueLength = varint(zigzagLarge(valueBytes));
  const tail = [0];
  const bodySize = body.length + valueLength.length + valueBytes + tail.length;
  const prefix = varint(zigzagLarge(bodySize));
  const out = Buffer.alloc(prefix.length + bodySize);
  let pos = 0;
  for (const b of [...prefix, ...body, ...valueLength]) out[pos++] = b;
  out[out.length - 1] = 0;
  return out;
}

function zigzag(n: number): number {
  return (n << 1) ^ (n >> 31);
}

function zigzagLarge(n: number): number {
  return n * 2;
}

function varint(v: number): number[] {
  const bytes: number[] = [];
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return bytes;
}

/** A batch of one record whose value is `valueBytes` zeros, compressed: a bomb that is also a valid batch. */
export async function bombBatch(codec: Compression, valueBytes: number, timestamps: { baseTimestamp?: number; maxTimestamp?: number } = {}): Promise<Buffer> {
  return rawBatch({ compression: codec, recordCount: 1, lastOffsetDelta: 0, records: await compress(codec, zeroRecord(valueBytes)), ...timestamps });
}

/**
 * Stores `batches` (one record each) as partition `partition`'s log, bypassing produce's
 * validation as a log written before it would be: a real append lays out the offsets,
 * then its object is replaced by one holding the given batches.
 */
export async function storeBatches(stack: LocalStack, topic: string, partition: number, batches: readonly Buffer[]): Promise<IndexEntryItem> {
  const records = batches.map(() => ({ key: 'k', value: 'v', partition }));
  const produced = await api(stack.url, 'POST', `/v1/topics/${topic}/records`, { records });
  if (produced.status !== 200) throw new Error(`setup produce failed: ${JSON.stringify(produced.body)}`);
  const { body: described } = await api(stack.url, 'GET', `/v1/topics/${topic}`);
  const pk = partitionPk((described as { topicId: string }).topicId, partition);
  const page = await stack.storage.ddb.send(new QueryCommand({ TableName: stack.storage.env.tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :s)', ExpressionAttributeValues: { ':pk': pk, ':s': 'S#' }, ConsistentRead: true }));
  const last = ((page.Items ?? []) as IndexEntryItem[]).at(-1);
  if (last === undefined || last.lastOffset - last.baseOffset + 1 !== batches.length) throw new Error(`setup expected the newest entry to span ${batches.length} offsets`);
  const body = Buffer.concat(batches);
  const objectKey = `${last.objectKey}.hostile`;
  await stack.storage.s3.send(new PutObjectCommand({ Bucket: stack.storage.env.bucketName, Key: objectKey, Body: body }));
  const entry: IndexEntryItem = { ...last, objectKey, byteStart: 0, byteLength: body.length };
  await stack.storage.ddb.send(new PutCommand({ TableName: stack.storage.env.tableName, Item: entry }));
  return entry;
}

export const MIB = 1024 * 1024;
