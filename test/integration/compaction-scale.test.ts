import { beforeAll, describe, expect, it } from 'vitest';
import { GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../../local/stack.ts';
import { compactPartition, type CompactionOptions } from '../../lib/retention/compact.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { readIndex } from '../../lib/retention/partition-items.ts';
import type { IndexEntryItem } from '../../lib/storage/schema.ts';
import { api } from '../support/stack.ts';
import { compactionFixture } from '../support/compaction-fixture.ts';
import { countingStorage, writeSyntheticEntries } from './large-partition.ts';

const fixture = compactionFixture();
const { createTopic, produce, values, pkOf, exists } = fixture;
let stack: LocalStack;
beforeAll(() => {
  stack = fixture.stack;
});

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MiB = 1024 * 1024;





async function tail(topic: string, count: number): Promise<IndexEntryItem[]> {
  return (await readIndex(stack.storage, await pkOf(topic))).slice(-count);
}


async function compact(topic: string, options: CompactionOptions = {}, partition = 0) {
  return compactPartition(stack.storage, await getTopic(stack.storage, topic), partition, options);
}

describe('a partition longer than 20,000 index entries', () => {
  const SIZE = 20_000;
  beforeAll(async () => {
    // 20,000 large entries (never merged, never expired), then small real appends at the end.
    await createTopic('long', { 'retention.ms': DAY });
    await writeSyntheticEntries(stack.storage, await getTopic(stack.storage, 'long'), { count: SIZE, byteLength: 2 * MiB, maxTimestamp: 1e13 });
    for (let i = 0; i < 10; i++) await produce('long', `tail-${i}`);
  }, 120_000);

  it('keeps every object the index or a queued deletion names, in a 20,010-entry partition', async () => {
    const newest = await tail('long', 10);
    const queuedOnly = `data/long/0/${(await getTopic(stack.storage, 'long')).topicId}/000000000000002-merged-queued.kafka`;
    await stack.storage.s3.send(new PutObjectCommand({ Bucket: stack.storage.env.bucketName, Key: queuedOnly, Body: 'x' }));
    await stack.storage.ddb.send(new PutCommand({ TableName: stack.storage.env.tableName, Item: { pk: await pkOf('long'), sk: `G#${queuedOnly}`, objectKey: queuedOnly, deleteAfterMs: Date.now() + 10 * DAY } }));

    const report = await compact('long', { nowMs: Date.now() + 2 * HOUR, settings: { mergeMinSegments: 1_000_000 } });
    expect(report.deletedOrphans).toBe(0);
    for (const entry of newest) expect(await exists(entry.objectKey), entry.objectKey).toBe(true);
    expect(await exists(queuedOnly)).toBe(true);
    expect(await values('long', SIZE)).toEqual(Array.from({ length: 10 }, (_, i) => `tail-${i}`));
  });

  it('re-tags objects past the 20,000th entry when retention.ms grows', async () => {
    await api(stack.url, 'PATCH', '/v1/topics/long', { configs: { 'retention.ms': 30 * DAY } });
    const report = await compact('long', { nowMs: Date.now() + 2 * HOUR, settings: { mergeMinSegments: 1_000_000, orphanSweepIntervalMs: 10 * DAY } });
    expect(report.retaggedObjects).toBe(10);
    const [entry] = await tail('long', 1);
    const tags = await stack.storage.s3.send(new GetObjectTaggingCommand({ Bucket: stack.storage.env.bucketName, Key: entry!.objectKey }));
    expect(tags.TagSet).toEqual([{ Key: 'sluice-expire-days', Value: '60' }]);
  });

  it('merges the small tail of a 20,010-entry partition', async () => {
    const report = await compact('long', { nowMs: Date.now() + 2 * HOUR });
    expect(report.mergedRuns).toBe(1);
    expect((await tail('long', 2))[0]!.lastOffset).toBe(SIZE - 1);
    expect(await values('long', SIZE)).toEqual(Array.from({ length: 10 }, (_, i) => `tail-${i}`));
  });

  it('visits a 20,010-entry partition with nothing due with a few DynamoDB requests and no S3 request', async () => {
    // The merge's old objects go first; after that, nothing is due until the next daily sweep.
    expect((await compact('long', { nowMs: Date.now() + 3 * HOUR })).deletedObjects).toBe(10);
    const topic = await getTopic(stack.storage, 'long');
    const { storage, s3, dynamo } = countingStorage(stack.storage);
    const report = await compactPartition(storage, topic, 0, { nowMs: Date.now() + 4 * HOUR });
    expect(report.ran).toBe(true);
    expect(s3).toEqual({});
    const requests = Object.values(dynamo).reduce((a, b) => a + b, 0);
    expect(requests, JSON.stringify(dynamo)).toBeLessThanOrEqual(8);
  });
});

