import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteObjectCommand, GetObjectTaggingCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { LocalStack } from '../../local/stack.ts';
import { compactAll, compactPartition, type CompactionOptions } from '../../lib/retention/compact.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { readIndex } from '../../lib/retention/partition-items.ts';
import { partitionPk, type IndexEntryItem } from '../../lib/storage/schema.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function createTopic(name: string, configs: Record<string, string | number> = {}): Promise<void> {
  const res = await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1, configs });
  expect(res.status).toBe(201);
}

/** One produce request = one segment; returns its offsets. */
async function produce(topic: string, values: string[], timestamp?: number): Promise<number[]> {
  const res = await api(stack.url, 'POST', `/v1/topics/${topic}/records`, { records: values.map((value) => ({ value, partition: 0, ...(timestamp === undefined ? {} : { timestamp }) })) });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.offsets.map((o: { offset: number }) => o.offset);
}

async function readAll(topic: string, from: number): Promise<Array<{ offset: number; value: string; timestamp: number; key: unknown; headers: unknown }>> {
  const out: Array<{ offset: number; value: string; timestamp: number; key: unknown; headers: unknown }> = [];
  for (let offset = from; ; ) {
    const res = await api(stack.url, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxRecords=10000&maxBytes=4194304`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    out.push(...res.body.records);
    if (res.body.nextOffset >= res.body.highWatermark) return out;
    offset = res.body.nextOffset;
  }
}

async function compact(topic: string, options: CompactionOptions = {}) {
  return compactPartition(stack.storage, await getTopic(stack.storage, topic), 0, options);
}

async function objectKeys(topic: string): Promise<string[]> {
  const listed = await stack.storage.s3.send(new ListObjectsV2Command({ Bucket: stack.storage.env.bucketName, Prefix: `data/${topic}/` }));
  return (listed.Contents ?? []).map((o) => o.Key as string).sort();
}

async function entries(topic: string): Promise<IndexEntryItem[]> {
  return readIndex(stack.storage, partitionPk((await getTopic(stack.storage, topic)).topicId, 0));
}

async function describe0(topic: string) {
  return (await api(stack.url, 'GET', `/v1/topics/${topic}`)).body.partitions[0];
}

describe('retention.ms', () => {
  it('removes exactly the segments whose newest record is older than retention.ms, never the head', async () => {
    await createTopic('aged', { 'retention.ms': 10_000 });
    for (let i = 1; i <= 5; i++) await produce('aged', [`a${i}`, `b${i}`], i * 1000);
    const report = await compact('aged', { clock: () => 13_500 });
    expect(report).toMatchObject({ ran: true, removedSegments: 3, logStartOffset: 6 });
    expect((await readAll('aged', 6)).map((r) => r.value)).toEqual(['a4', 'b4', 'a5', 'b5']);
    const below = await api(stack.url, 'GET', '/v1/topics/aged/partitions/0/records?offset=5');
    expect(below).toMatchObject({ status: 416, body: { error: 'OFFSET_OUT_OF_RANGE', logStartOffset: 6, highWatermark: 10 } });
    const all = await compact('aged', { clock: () => 10 * HOUR });
    expect(all.removedSegments).toBe(1);
    expect(await describe0('aged')).toMatchObject({ logStartOffset: 8, highWatermark: 10, segments: 1 });
    expect((await readAll('aged', 8)).map((r) => r.value)).toEqual(['a5', 'b5']);
  });

  it('keeps every segment when retention.ms is -1', async () => {
    await createTopic('forever', { 'retention.ms': -1 });
    for (let i = 1; i <= 3; i++) await produce('forever', [`v${i}`], 1);
    expect((await compact('forever', { nowMs: 1e13 })).removedSegments).toBe(0);
  });
});

describe('retention.bytes', () => {
  it('removes the oldest segments while the partition stays at or above the limit without them', async () => {
    await createTopic('sized');
    for (let i = 0; i < 5; i++) await produce('sized', ['x'.repeat(1000)]);
    const [segment] = await entries('sized');
    await api(stack.url, 'PATCH', '/v1/topics/sized', { configs: { 'retention.bytes': String(Math.floor(segment!.byteLength * 2.5)) } });
    const report = await compact('sized');
    expect(report).toMatchObject({ removedSegments: 2, logStartOffset: 2 });
    expect((await describe0('sized')).bytes).toBe(segment!.byteLength * 3);
    expect((await readAll('sized', 2)).map((r) => r.offset)).toEqual([2, 3, 4]);
  });
});

describe('two-phase removal', () => {
  it('keeps removed objects for the grace period so in-flight fetches finish, then deletes them', async () => {
    await createTopic('graceful', { 'retention.ms': 1000 });
    await produce('graceful', ['old'], 1);
    await produce('graceful', ['new'], 10_000);
    expect(await objectKeys('graceful')).toHaveLength(2);
    await compact('graceful', { nowMs: 5000, settings: { deleteGraceMs: 60_000 } });
    // Cut out of the log (below its start, out of its size), but entry and object stay for now.
    expect(await describe0('graceful')).toMatchObject({ logStartOffset: 1, segments: 1 });
    expect(await entries('graceful')).toHaveLength(2);
    expect(await objectKeys('graceful')).toHaveLength(2);
    expect((await compact('graceful', { nowMs: 60_000, settings: { deleteGraceMs: 60_000 } })).releasedSegments).toBe(0);
    expect(await objectKeys('graceful')).toHaveLength(2);
    // The grace period counts from the cut's commit, a moment after the run began.
    expect((await compact('graceful', { nowMs: 66_000, settings: { deleteGraceMs: 60_000 } })).releasedSegments).toBe(1);
    expect(await entries('graceful')).toHaveLength(1);
    expect(await objectKeys('graceful')).toHaveLength(1);
    expect((await readAll('graceful', 1)).map((r) => r.value)).toEqual(['new']);
  });
});

describe('DeleteRecords', () => {
  it('advances the log start offset, never past the high watermark, and compaction reclaims the space', async () => {
    await createTopic('trimmed');
    for (let i = 0; i < 4; i++) await produce('trimmed', [`v${i}a`, `v${i}b`]);
    const res = await api(stack.url, 'POST', '/v1/topics/trimmed/partitions/0/delete-records', { offset: 5 });
    expect(res).toMatchObject({ status: 200, body: { lowWatermark: 5 } });
    expect((await api(stack.url, 'GET', '/v1/topics/trimmed/partitions/0/records?offset=4')).status).toBe(416);
    expect((await readAll('trimmed', 5)).map((r) => r.value)).toEqual(['v2b', 'v3a', 'v3b']);
    const backwards = await api(stack.url, 'POST', '/v1/topics/trimmed/partitions/0/delete-records', { offset: 1 });
    expect(backwards.body).toEqual({ logStartOffset: 5, lowWatermark: 5 });
    const past = await api(stack.url, 'POST', '/v1/topics/trimmed/partitions/0/delete-records', { offset: 9 });
    expect(past).toMatchObject({ status: 416, body: { error: 'OFFSET_OUT_OF_RANGE' } });
    await compact('trimmed');
    expect(await describe0('trimmed')).toMatchObject({ logStartOffset: 5, segments: 2 });
    await compact('trimmed', { nowMs: Date.now() + HOUR });
    expect((await entries('trimmed')).map((e) => e.baseOffset)).toEqual([4, 6]);
    expect((await readAll('trimmed', 5)).map((r) => r.value)).toEqual(['v2b', 'v3a', 'v3b']);
  });
});

describe('a segment removed by S3 lifecycle', () => {
  it('reads as retention (OFFSET_OUT_OF_RANGE), never a 5xx', async () => {
    await createTopic('lifecycled');
    await produce('lifecycled', ['gone']);
    const [entry] = await entries('lifecycled');
    await stack.storage.s3.send(new DeleteObjectCommand({ Bucket: stack.storage.env.bucketName, Key: entry!.objectKey }));
    const res = await api(stack.url, 'GET', '/v1/topics/lifecycled/partitions/0/records?offset=0');
    expect(res).toMatchObject({ status: 416, body: { error: 'OFFSET_OUT_OF_RANGE' } });
  });
});

describe('the S3 lifecycle backstop tag', () => {
  it('records each object\'s expiry rung and re-tags older objects when retention.ms grows', async () => {
    await createTopic('growing', { 'retention.ms': 86_400_000 });
    await produce('growing', ['a']);
    await produce('growing', ['b']);
    expect((await entries('growing')).map((e) => e.expireDays)).toEqual([2, 2]);
    await api(stack.url, 'PATCH', '/v1/topics/growing', { configs: { 'retention.ms': 30 * 86_400_000 } });
    const report = await compact('growing');
    expect(report.retaggedObjects).toBe(2);
    const retagged = await entries('growing');
    expect(retagged.map((e) => e.expireDays)).toEqual([60, 60]);
    const tags = await stack.storage.s3.send(new GetObjectTaggingCommand({ Bucket: stack.storage.env.bucketName, Key: retagged[0]!.objectKey }));
    expect(tags.TagSet).toEqual([{ Key: 'sluice-expire-days', Value: '60' }]);
    expect((await compact('growing')).retaggedObjects).toBe(0);
  });
});

describe('cleanup.policy=compact', () => {
  async function produceKeyed(topic: string, records: Array<[string, string | null, number]>): Promise<void> {
    const res = await api(stack.url, 'POST', `/v1/topics/${topic}/records`, { records: records.map(([key, value, timestamp]) => ({ key, value, timestamp, partition: 0 })) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }

  it('keeps the latest record per key at its original offset, and drops tombstones after delete.retention.ms', async () => {
    await createTopic('compacted', { 'cleanup.policy': 'compact', 'delete.retention.ms': 10_000 });
    await produceKeyed('compacted', [['a', 'a1', 1000], ['b', 'b1', 1000], ['c', 'c1', 1000]]);
    await produceKeyed('compacted', [['a', 'a2', 2000], ['b', null, 2000]]);
    await produceKeyed('compacted', [['c', 'c2', 3000], ['d', 'd1', 3000]]);
    await produceKeyed('compacted', [['e', 'e1', 4000]]);
    const report = await compact('compacted', { nowMs: 5000 });
    expect(report.compactedSegments).toBe(1);
    // The newest segment is never cleaned; the tombstone for b is younger than delete.retention.ms.
    expect((await readAll('compacted', 0)).map((r) => [r.offset, r.key, r.value])).toEqual([
      [3, 'a', 'a2'],
      [4, 'b', null],
      [5, 'c', 'c2'],
      [6, 'd', 'd1'],
      [7, 'e', 'e1'],
    ]);
    await compact('compacted', { nowMs: 20_000 });
    expect((await readAll('compacted', 0)).map((r) => [r.offset, r.key])).toEqual([
      [3, 'a'],
      [5, 'c'],
      [6, 'd'],
      [7, 'e'],
    ]);
    // Offsets are kept: the high watermark and a fetch into a gap behave as in Kafka.
    const gap = await api(stack.url, 'GET', '/v1/topics/compacted/partitions/0/records?offset=1');
    expect(gap.body.records[0].offset).toBe(3);
    expect(gap.body.highWatermark).toBe(8);
  });

  it('respects min.compaction.lag.ms', async () => {
    await createTopic('lagged', { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': 60_000 });
    await produceKeyed('lagged', [['k', 'v1', 1000]]);
    await produceKeyed('lagged', [['k', 'v2', 50_000]]);
    await produceKeyed('lagged', [['x', 'x', 50_000]]);
    expect((await compact('lagged', { nowMs: 55_000 })).compactedSegments).toBe(0);
    expect((await compact('lagged', { nowMs: 200_000 })).compactedSegments).toBe(1);
    expect((await readAll('lagged', 0)).map((r) => r.value)).toEqual(['v2', 'x']);
  });

  it('rejects records without a key, as Kafka does for compacted topics', async () => {
    await createTopic('keyed-only', { 'cleanup.policy': 'compact' });
    const res = await api(stack.url, 'POST', '/v1/topics/keyed-only/records', { records: [{ key: 'k', value: 'v' }, { value: 'no key' }] });
    expect(res).toMatchObject({ status: 400, body: { error: 'INVALID_RECORD' } });
  });

  it('combines with deletion under compact,delete', async () => {
    await createTopic('both', { 'cleanup.policy': 'compact,delete', 'retention.ms': 10_000 });
    await produceKeyed('both', [['a', 'old', 1000]]);
    await produceKeyed('both', [['a', 'new', 20_000], ['b', 'b', 20_000]]);
    await produceKeyed('both', [['c', 'c', 20_000]]);
    const report = await compact('both', { nowMs: 25_000 });
    expect(report.removedSegments).toBe(1);
    expect((await readAll('both', 1)).map((r) => r.value)).toEqual(['new', 'b', 'c']);
  });
});

describe('the scheduled pass', () => {
  it('visits only partitions that are due, most overdue first, and a pass cut short by its budget leaves the rest due', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'rotation', partitions: 3 });
    for (const partition of [0, 1, 2]) await api(stack.url, 'POST', '/v1/topics/rotation/records', { records: [{ value: 'x', partition }] });
    const topic = await getTopic(stack.storage, 'rotation');
    await compactPartition(stack.storage, topic, 0);
    await compactPartition(stack.storage, topic, 2);
    // Partition 1 was never visited: discovery schedules it; 0 and 2 are next due at their daily sweep.
    const first = (await compactAll(stack.storage)).filter((r) => r.topic === 'rotation');
    expect(first.map((r) => r.partition)).toEqual([1]);
    expect((await compactAll(stack.storage)).filter((r) => r.topic === 'rotation')).toEqual([]);
    expect((await compactAll(stack.storage, { nowMs: Date.now() + DAY + HOUR, budgetMs: -1 })).length).toBe(0);
    const nextDay = (await compactAll(stack.storage, { nowMs: Date.now() + DAY + HOUR })).filter((r) => r.topic === 'rotation');
    expect(nextDay.map((r) => r.partition)).toEqual([0, 2, 1]);
  });
});
