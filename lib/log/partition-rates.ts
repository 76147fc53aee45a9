/**
 * Per-partition produce rates over the last minute, for `GET /v1/topics/{topic}`: counters,
 * not a scan. Each instance adds up what it appended per partition and 10-second bucket, and
 * writes its sums to one item per partition and bucket with DynamoDB's ADD:
 *
 *   pk RATE#<topicId>   sk <bucketStartMs, 13 digits>#<partition, 6 digits>   records, bytes, expiresAt
 *
 * so describing a topic reads its rates with one Query over the last minute's buckets
 * (≤ 6 items per partition), whatever the traffic. An instance writes a partition's sums at
 * most every flushIntervalMs (and when a bucket it holds ends), so the cost is one small
 * write per instance, partition and 5 s, never one per request. Items expire by TTL.
 *
 * What the figure is: records and bytes acknowledged by produce requests (an idempotent
 * retry answered as a duplicate counts again), divided by the time the buckets cover (the
 * current bucket so far and the five before it: 50–60 s). An instance's last few seconds of
 * counts reach the table with its next request, so a partition that stopped receiving shows
 * up to one flush interval of traffic too little, never too much.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { PRODUCE_RATES } from '../config/defaults.ts';
import { durationFromEnv } from '../config/env.ts';
import { log } from '../observability/logger.ts';
import type { Storage } from '../storage/clients.ts';
import { TTL_ATTRIBUTE } from '../storage/provision.ts';
import { queryPages } from '../storage/query-pages.ts';
import type { TopicItem } from '../storage/schema.ts';
import type { PartitionBatches } from './append.ts';

/** A partition's produce rate, as `GET /v1/topics/{topic}` reports it. */
export interface ProduceRate {
  recordsPerSecond: number;
  bytesPerSecond: number;
  /** The time the rate is averaged over, ms (50–60 s: the current bucket and the full ones before it). */
  windowMs: number;
}

/** What one request appended to one partition. */
export interface AppendedCounts {
  partition: number;
  records: number;
  bytes: number;
}

/** The counts of a request's verified batches, per partition. */
export function countsOf(parts: readonly PartitionBatches[]): AppendedCounts[] {
  return parts.map((p) => ({ partition: p.partition, records: p.batches.reduce((n, b) => n + b.header.recordCount, 0), bytes: p.batches.reduce((n, b) => n + b.bytes.length, 0) }));
}

export function ratesPk(topicId: string): string {
  return `RATE#${topicId}`;
}

/** The sort key of a partition's counters for one bucket. */
export function bucketSk(bucketStartMs: number, partition: number): string {
  return `${bucketStartMs.toString().padStart(13, '0')}#${partition.toString().padStart(6, '0')}`;
}

/** Start of the bucket holding `nowMs`. */
export function bucketStart(nowMs: number): number {
  return nowMs - (nowMs % PRODUCE_RATES.bucketMs);
}

/** First bucket start inside the window that ends at `nowMs`, and the time the window covers. */
export function rateWindow(nowMs: number): { firstBucketMs: number; windowMs: number } {
  const firstBucketMs = bucketStart(nowMs) - (PRODUCE_RATES.windowMs - PRODUCE_RATES.bucketMs);
  return { firstBucketMs, windowMs: Math.max(1, nowMs - firstBucketMs) };
}

/** Counts not yet written, per `topicId#partition`, then per bucket start. */
const pending = new Map<string, { topicId: string; partition: number; lastFlushMs: number; buckets: Map<number, { records: number; bytes: number }> }>();

/**
 * Adds a request's appended counts to this instance's sums, and writes the sums of each
 * partition whose flush is due. Never throws: the records are already acknowledged-to-be,
 * and a lost counter write only makes a rate read low (its sums stay for the next flush).
 */
export async function recordProduced(storage: Storage, topic: TopicItem, counts: readonly AppendedCounts[], nowMs = Date.now(), env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const flushIntervalMs = durationFromEnv('SLUICE_PRODUCE_RATE_FLUSH_MS', PRODUCE_RATES.flushIntervalMs, env);
  const bucket = bucketStart(nowMs);
  const due: Array<Promise<void>> = [];
  for (const c of counts) {
    if (c.records === 0) continue;
    const key = `${topic.topicId}#${c.partition}`;
    let entry = pending.get(key);
    if (entry === undefined) {
      entry = { topicId: topic.topicId, partition: c.partition, lastFlushMs: Number.NEGATIVE_INFINITY, buckets: new Map() };
      pending.set(key, entry);
    }
    const sums = entry.buckets.get(bucket) ?? { records: 0, bytes: 0 };
    sums.records += c.records;
    sums.bytes += c.bytes;
    entry.buckets.set(bucket, sums);
    const ended = [...entry.buckets.keys()].some((b) => b < bucket);
    if (ended || nowMs - entry.lastFlushMs >= flushIntervalMs) due.push(flush(storage, entry, nowMs));
  }
  await Promise.all(due);
}

async function flush(storage: Storage, entry: NonNullable<ReturnType<typeof pending.get>>, nowMs: number): Promise<void> {
  const buckets = [...entry.buckets];
  entry.buckets = new Map();
  entry.lastFlushMs = nowMs;
  await Promise.all(
    buckets.map(async ([start, sums]) => {
      try {
        await storage.ddb.send(
          new UpdateCommand({
            TableName: storage.env.tableName,
            Key: { pk: ratesPk(entry.topicId), sk: bucketSk(start, entry.partition) },
            UpdateExpression: 'ADD #records :records, #bytes :bytes SET #partition = :partition, #ttl = :ttl',
            ExpressionAttributeNames: { '#records': 'records', '#bytes': 'bytes', '#partition': 'partition', '#ttl': TTL_ATTRIBUTE },
            // Kept an hour past the window: TTL may delete up to days late, and the Query bounds by key anyway.
            ExpressionAttributeValues: { ':records': sums.records, ':bytes': sums.bytes, ':partition': entry.partition, ':ttl': Math.ceil((start + PRODUCE_RATES.windowMs) / 1000) + 3600 },
          }),
        );
      } catch (error) {
        // Kept for the next flush of this partition.
        const kept = entry.buckets.get(start) ?? { records: 0, bytes: 0 };
        entry.buckets.set(start, { records: kept.records + sums.records, bytes: kept.bytes + sums.bytes });
        log().warn('Could not write produce-rate counts; they are kept for the next flush', { topicId: entry.topicId, partition: entry.partition, error: String(error) });
      }
    }),
  );
}

/** Each partition's produce rate over the last minute: one Query of at most 6 items per partition. */
export async function readProduceRates(storage: Storage, topic: Pick<TopicItem, 'topicId' | 'partitions'>, nowMs = Date.now()): Promise<ProduceRate[]> {
  const { firstBucketMs, windowMs } = rateWindow(nowMs);
  const sums = Array.from({ length: topic.partitions }, () => ({ records: 0, bytes: 0 }));
  const pages = queryPages<{ partition: number; records?: number; bytes?: number }>(storage, {
    KeyConditionExpression: 'pk = :pk AND sk >= :from',
    ExpressionAttributeValues: { ':pk': ratesPk(topic.topicId), ':from': bucketSk(firstBucketMs, 0) },
    ProjectionExpression: '#partition, #records, #bytes',
    ExpressionAttributeNames: { '#partition': 'partition', '#records': 'records', '#bytes': 'bytes' },
  });
  for await (const page of pages) {
    for (const item of page) {
      const s = sums[item.partition];
      if (s === undefined) continue;
      s.records += item.records ?? 0;
      s.bytes += item.bytes ?? 0;
    }
  }
  const perSecond = (n: number) => Math.round((n * 1000 * 100) / windowMs) / 100;
  return sums.map((s) => ({ recordsPerSecond: perSecond(s.records), bytesPerSecond: perSecond(s.bytes), windowMs }));
}
