import { beforeAll, describe, expect, it } from 'vitest';
import { DeleteObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, PutObjectCommand, PutObjectTaggingCommand } from '@aws-sdk/client-s3';
import { DeleteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../../local/stack.ts';
import { lifecycleRules } from '../../infra/bucket-lifecycle.ts';
import { compactAll, compactPartition, type CompactionOptions } from '../../lib/retention/compact.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { listObjects } from '../../lib/retention/orphans.ts';
import { readIndex } from '../../lib/retention/partition-items.ts';
import { readCompactionState } from '../../lib/retention/schedule.ts';
import { api } from '../support/stack.ts';
import { compactionFixture } from '../support/compaction-fixture.ts';

const fixture = compactionFixture();
const { createTopic, produce, values, pkOf, exists } = fixture;
let stack: LocalStack;
beforeAll(() => {
  stack = fixture.stack;
});

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;






/** The next scheduled pass looks for unscheduled partitions (it does so once an hour). */
async function discoverOnNextPass(): Promise<void> {
  await stack.storage.ddb.send(new DeleteCommand({ TableName: stack.storage.env.tableName, Key: { pk: 'SCHEDULE', sk: 'DISCOVERY' } }));
}

async function compact(topic: string, options: CompactionOptions = {}, partition = 0) {
  return compactPartition(stack.storage, await getTopic(stack.storage, topic), partition, options);
}

describe('DeleteRecords past more than 49 segments', () => {
  it('is applied by the next pass: 60 one-record segments, DeleteRecords to 55', async () => {
    await createTopic('trim60', { 'retention.ms': -1 });
    for (let i = 0; i < 60; i++) await produce('trim60', `v${i}`);
    expect((await api(stack.url, 'POST', '/v1/topics/trim60/partitions/0/delete-records', { offset: 55 })).body).toEqual({ logStartOffset: 55, lowWatermark: 55 });
    await discoverOnNextPass();
    const reports = await compactAll(stack.storage, { settings: { mergeMinSegments: 1_000_000 } });
    const report = reports.find((r) => r.topic === 'trim60');
    expect(report?.error).toBeUndefined();
    expect(report?.removedSegments).toBe(55);
    expect((await api(stack.url, 'GET', '/v1/topics/trim60')).body.partitions[0]).toMatchObject({ logStartOffset: 55, segments: 5 });
    expect(await values('trim60', 55)).toEqual(['v55', 'v56', 'v57', 'v58', 'v59']);
    // The cut entries leave the index once their grace is over.
    expect((await compact('trim60', { nowMs: Date.now() + HOUR, settings: { mergeMinSegments: 1_000_000 } })).releasedSegments).toBe(55);
    expect((await readIndex(stack.storage, await pkOf('trim60'))).map((e) => e.baseOffset)).toEqual([55, 56, 57, 58, 59]);
  });
});

describe('a partition whose visit fails', () => {
  it('is logged and retried later, and the pass goes on to the other partitions', async () => {
    await createTopic('broken', { 'retention.ms': -1 });
    for (let i = 0; i < 10; i++) await produce('broken', `b${i}`);
    // An object gone from under its entry makes merging fail on this partition.
    const [victim] = await readIndex(stack.storage, await pkOf('broken'));
    await stack.storage.s3.send(new DeleteObjectCommand({ Bucket: stack.storage.env.bucketName, Key: victim!.objectKey }));
    await createTopic('healthy', { 'retention.ms': 1000 });
    await produce('healthy', 'old', 0, 1);
    await produce('healthy', 'new', 0, 1e13);
    await discoverOnNextPass();
    const reports = await compactAll(stack.storage);
    const broken = reports.find((r) => r.topic === 'broken');
    expect(broken?.error).toEqual(expect.any(String));
    expect(broken?.nextDueAtMs).toBeGreaterThan(Date.now() + 10 * MINUTE);
    expect(reports.find((r) => r.topic === 'healthy')).toMatchObject({ ran: true, removedSegments: 1 });
    // Retried only once its back-off is over.
    expect((await compactAll(stack.storage)).find((r) => r.topic === 'broken')).toBeUndefined();
  });
});

describe('time in a pass', () => {
  it('uses the time at which each decision is made: a partition reached minutes into the pass still gets the full delete grace', async () => {
    await createTopic('late', { 'retention.ms': 1000 }, 2);
    for (const partition of [0, 1]) {
      await produce('late', 'old', partition, 1);
      await produce('late', 'new', partition, 1e13);
    }
    const startMs = Date.now();
    let fakeMs = startMs;
    // The first partition's retention takes ten minutes of the pass.
    let slowed = false;
    const hooks = {
      afterRetentionCommit: async () => {
        if (!slowed) fakeMs += 10 * MINUTE;
        slowed = true;
      },
    };
    await discoverOnNextPass();
    await compactAll(stack.storage, { nowMs: startMs, clock: () => fakeMs, hooks });
    const graceMs = 5 * MINUTE;
    const deleteAfter = await Promise.all([0, 1].map(async (p) => (await readCompactionState(stack.storage, await pkOf('late', p), 0)).releases?.map((m) => m.afterMs) ?? []));
    expect(deleteAfter.flat()).toHaveLength(2);
    // One partition was reached after the ten minutes: its removed object must stay until then + grace.
    expect(Math.max(...deleteAfter.flat())).toBeGreaterThanOrEqual(startMs + 10 * MINUTE + graceMs);
  });
});

describe('the S3 lifecycle backstop', () => {
  /** When the bucket's lifecycle rules (as the CDK construct declares them) would expire an object at the earliest. */
  function lifecycleExpiryMs(key: string, tags: Record<string, string>, createdAtMs: number): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const rule of lifecycleRules(true)) {
      if (rule.expiration === undefined) continue;
      if (rule.prefix !== undefined && !key.startsWith(rule.prefix)) continue;
      if (!Object.entries(rule.tagFilters ?? {}).every(([k, v]) => tags[k] === v)) continue;
      earliest = Math.min(earliest, createdAtMs + rule.expiration.toDays() * DAY);
    }
    return earliest;
  }

  it('never expires an object the index still names, including the newest segment of an idle partition, over ten days of visits', async () => {
    await createTopic('idle', { 'retention.ms': DAY });
    await produce('idle', 'a');
    await produce('idle', 'b');
    // s3rver drops PutObject's Tagging parameter; give the objects the tag AWS would have stored.
    for (const entry of await readIndex(stack.storage, await pkOf('idle'))) {
      expect(entry.expireDays).toBe(2);
      await stack.storage.s3.send(new PutObjectTaggingCommand({ Bucket: stack.storage.env.bucketName, Key: entry.objectKey, Tagging: { TagSet: [{ Key: 'sluice-expire-days', Value: '2' }] } }));
    }
    const startMs = Date.now();
    for (let nowMs = startMs; nowMs < startMs + 10 * DAY; ) {
      const report = await compact('idle', { nowMs });
      // The schedule visits when the partition says it is due, and at least daily.
      const nextVisitMs = Math.min(report.nextDueAtMs ?? nowMs + DAY, nowMs + DAY);
      for (const entry of await readIndex(stack.storage, await pkOf('idle'))) {
        const head = await stack.storage.s3.send(new HeadObjectCommand({ Bucket: stack.storage.env.bucketName, Key: entry.objectKey }));
        const tagging = await stack.storage.s3.send(new GetObjectTaggingCommand({ Bucket: stack.storage.env.bucketName, Key: entry.objectKey }));
        const tags = Object.fromEntries((tagging.TagSet ?? []).map((t) => [t.Key, t.Value]));
        expect(lifecycleExpiryMs(entry.objectKey, tags as Record<string, string>, head.LastModified!.getTime()), `day ${((nowMs - startMs) / DAY).toFixed(2)}`).toBeGreaterThan(nextVisitMs);
      }
      nowMs = Math.max(nextVisitMs, nowMs + 1);
    }
    expect(await values('idle', 1)).toEqual(['b']);
  });
});

describe('a crash injected at each new step', () => {
  const crash = async () => {
    throw new Error('injected crash');
  };

  it.each([
    ['between an object re-tag and its entry', { afterObjectRetagged: crash }],
    ['after the orphan sweep has checked, before it deletes', { beforeOrphanDeletes: crash }],
    ['between the new DUE item and the state naming it', { afterDueWritten: crash }],
  ] as const)('leaves a readable log, every object it names, and the partition scheduled: %s', async (_step, hooks) => {
    const name = `crash2-${Object.keys(hooks)[0]}`;
    await createTopic(name, { 'retention.ms': DAY });
    for (let i = 0; i < 3; i++) await produce(name, `v${i}`);
    const topic = await getTopic(stack.storage, name);
    await stack.storage.s3.send(new PutObjectCommand({ Bucket: stack.storage.env.bucketName, Key: `data/${name}/0/${topic.topicId}/000000000000003-produced-orphan.kafka`, Body: 'x' }));
    // Day 1.9: the newest object's tag is near; the orphan is past its grace.
    await expect(compact(name, { hooks, nowMs: Date.now() + 1.9 * DAY, settings: { retentionPageSize: 1 } })).rejects.toThrow('injected crash');
    expect(await values(name, 2)).toEqual(['v2']);
    for (const entry of await readIndex(stack.storage, await pkOf(name))) expect(await exists(entry.objectKey)).toBe(true);
    // The next passes finish the work: only indexed objects remain, and exactly one DUE item names the partition.
    await discoverOnNextPass();
    await compactAll(stack.storage, { nowMs: Date.now() + 3 * DAY });
    await compactAll(stack.storage, { nowMs: Date.now() + 3 * DAY + HOUR });
    const live = await readIndex(stack.storage, await pkOf(name));
    expect((await listObjects(stack.storage, `data/${name}/`)).map((o) => o.Key).sort()).toEqual(live.map((e) => e.objectKey).sort());
    const due = await stack.storage.ddb.send(new QueryCommand({ TableName: stack.storage.env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'DUE' } }));
    expect((due.Items ?? []).filter((item) => item.topic === name)).toHaveLength(1);
    expect(await values(name, live[0]!.baseOffset)).toEqual(['v2']);
  });
});
