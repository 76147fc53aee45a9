import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listObjects } from '../../lib/retention/orphans.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BATCHES_MEDIA_TYPE, decodeFrames } from '../../lib/codec/framing.ts';
import { compactPartition, type CompactionOptions } from '../../lib/retention/compact.ts';
import { mergeRun } from '../../lib/retention/steps.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { readPartition } from '../../lib/log/read.ts';
import { readIndex, readPendingDeletes } from '../../lib/retention/partition-items.ts';
import { SegmentCache } from '../../lib/storage/segment-cache.ts';
import { createStorage } from '../../lib/storage/clients.ts';
import { partitionPk, type IndexEntryItem } from '../../lib/storage/schema.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
const savedTrigger = process.env.SLUICE_COMPACT_FUNCTION;
beforeAll(async () => {
  stack = await startTestStack();
  // These tests drive compaction themselves; produce's trigger would race them.
  process.env.SLUICE_COMPACT_FUNCTION = '';
});
afterAll(async () => {
  process.env.SLUICE_COMPACT_FUNCTION = savedTrigger;
  await stack?.close();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MERGE: CompactionOptions['settings'] = { mergeMinSegments: 8 };

/** Records carry fixed 2023 timestamps, so these topics keep them forever. */
async function createTopic(name: string): Promise<void> {
  expect((await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1, configs: { 'retention.ms': -1 } })).status).toBe(201);
}

async function produceSegments(topic: string, count: number, concurrency = 8): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const body = { records: [{ key: `key-${i % 37}`, value: `value-${i}`, headers: { n: String(i), empty: null }, timestamp: 1_700_000_000_000 + i, partition: 0 }] };
        // As a client does: retry what the server calls retriable (contention on one partition).
        for (;;) {
          const res = await api(stack.url, 'POST', `/v1/topics/${topic}/records`, body);
          if (res.status === 200) break;
          expect(res.body.retriable, JSON.stringify(res.body)).toBe(true);
        }
      }
    }),
  );
}

/** Everything a consumer can see: JSON records and the raw batches with their offsets. */
async function fullRead(topic: string): Promise<{ records: unknown[]; batches: string[] }> {
  const records: unknown[] = [];
  for (let offset = 0; ; ) {
    const res = await api(stack.url, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxRecords=10000&maxBytes=4194304`);
    records.push(...res.body.records);
    if (res.body.nextOffset >= res.body.highWatermark) break;
    offset = res.body.nextOffset;
  }
  const batches: string[] = [];
  for (let offset = 0; ; ) {
    const res = await fetch(`${stack.url}/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=4194304`, { headers: { accept: BATCHES_MEDIA_TYPE } });
    const frames = decodeFrames(Buffer.from(await res.arrayBuffer()));
    batches.push(...frames.map((f) => f.batch.toString('hex')));
    offset = Number(res.headers.get('x-sluice-next-offset'));
    if (frames.length === 0 || offset >= Number(res.headers.get('x-sluice-high-watermark'))) break;
  }
  return { records, batches };
}

/** S3 GETs for one full read of the partition with a cold cache. */
async function coldGets(topic: string): Promise<number> {
  let gets = 0;
  const storage = createStorage(stack.storage.env);
  storage.s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetObjectCommand') gets++;
      return next(args);
    },
    { step: 'initialize' },
  );
  const topicItem = await getTopic(stack.storage, topic);
  const cache = new SegmentCache();
  for (let offset = 0; ; ) {
    const result = await readPartition(storage, topicItem, 0, offset, { maxBytes: 4 * 1024 * 1024, cache });
    offset = (result.batches.at(-1)?.lastOffset ?? offset) + 1;
    if (offset >= result.highWatermark) return gets;
  }
}

async function entries(topic: string): Promise<IndexEntryItem[]> {
  return readIndex(stack.storage, partitionPk((await getTopic(stack.storage, topic)).topicId, 0));
}

async function objectCount(topic: string): Promise<number> {
  return (await listObjects(stack.storage, `data/${topic}/`)).length;
}

async function compact(topic: string, options: CompactionOptions = {}) {
  return compactPartition(stack.storage, await getTopic(stack.storage, topic), 0, { settings: MERGE, ...options });
}

describe('merging small segments', () => {
  it('gives identical fetch results for 1,000 merged segments and cuts S3 GETs for a full read', async () => {
    await createTopic('many');
    await produceSegments('many', 1000, 3);
    const before = await fullRead('many');
    expect(before.records).toHaveLength(1000);
    // Requests the server handles at once may share a segment (segment combining): most are still apart.
    const segmentsBefore = (await entries('many')).length;
    expect(segmentsBefore).toBeGreaterThan(500);
    const getsBefore = await coldGets('many');
    expect(getsBefore).toBe(segmentsBefore);

    const report = await compact('many');
    expect(report.mergedRuns).toBeGreaterThan(0);
    const after = await fullRead('many');
    expect(after).toEqual(before);
    const merged = await entries('many');
    expect(merged.length).toBeLessThanOrEqual(segmentsBefore / 49 + 1);
    const getsAfter = await coldGets('many');
    expect(getsAfter).toBe(merged.length);
    expect((await api(stack.url, 'GET', '/v1/topics/many')).body.partitions[0]).toMatchObject({ segments: merged.length, highWatermark: 1000 });

    // Old objects stay for the grace period, then go; orphans of retried produces go at the next daily sweep.
    expect(await objectCount('many')).toBeGreaterThanOrEqual(segmentsBefore + merged.length);
    await compact('many', { nowMs: Date.now() + DAY + HOUR, settings: { mergeMinSegments: 1_000_000 } });
    expect(await objectCount('many')).toBe(merged.length);
    expect(await fullRead('many')).toEqual(before);
  }, 180_000);

  it('lets exactly one of two concurrent merges of the same run win', async () => {
    await createTopic('racing');
    await produceSegments('racing', 10, 1);
    const topic = await getTopic(stack.storage, 'racing');
    const pk = partitionPk(topic.topicId, 0);
    const run = await entries('racing');
    const results = await Promise.all([mergeRun(stack.storage, topic, 0, pk, run, Date.now(), 0), mergeRun(stack.storage, topic, 0, pk, run, Date.now(), 0)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await entries('racing')).toHaveLength(1);
    expect((await fullRead('racing')).records).toHaveLength(10);
  });

  it('runs one compaction per partition at a time (the lease)', async () => {
    await createTopic('leased');
    await produceSegments('leased', 10, 1);
    const reports = await Promise.all([compact('leased'), compact('leased'), compact('leased')]);
    expect(reports.filter((r) => r.ran).length).toBeGreaterThanOrEqual(1);
    expect(reports.filter((r) => r.mergedRuns > 0)).toHaveLength(1);
    expect((await fullRead('leased')).records).toHaveLength(10);
  });
});

describe('a crash injected at each step', () => {
  const crash = async () => {
    throw new Error('injected crash');
  };

  it.each([
    ['after the merged object is written', { afterMergedObject: crash }],
    ['after the index swap', { afterIndexSwap: crash }],
    ['before the old objects are deleted', { beforeObjectDeletes: crash }],
  ] as const)('leaves a readable log with nothing lost, and the garbage is collected on the next run: %s', async (_step, hooks) => {
    const name = `crash-${Object.keys(hooks)[0]}`;
    await createTopic(name);
    await produceSegments(name, 12, 1);
    const before = await fullRead(name);
    if ('beforeObjectDeletes' in hooks) await compact(name);
    await expect(compact(name, { hooks, nowMs: Date.now() + ('beforeObjectDeletes' in hooks ? HOUR : 0) })).rejects.toThrow('injected crash');
    expect(await fullRead(name)).toEqual(before);
    // The next runs, past every grace period and the next sweep, leave exactly the objects the index names.
    await compact(name, { nowMs: Date.now() + 2 * HOUR });
    await compact(name, { nowMs: Date.now() + DAY + 4 * HOUR });
    const live = await entries(name);
    expect(await objectCount(name)).toBe(live.length);
    expect(await readPendingDeletes(stack.storage, partitionPk((await getTopic(stack.storage, name)).topicId, 0))).toEqual([]);
    expect(await fullRead(name)).toEqual(before);
  });

  it('leaves a readable log when retention crashes after its commit, and deletes the objects later', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'crash-retention', partitions: 1, configs: { 'retention.ms': 1000 } });
    for (let i = 0; i < 3; i++) await api(stack.url, 'POST', '/v1/topics/crash-retention/records', { records: [{ value: `v${i}`, timestamp: i === 2 ? 1e13 : 1 }] });
    await expect(compact('crash-retention', { hooks: { afterRetentionCommit: crash }, nowMs: 10_000 })).rejects.toThrow('injected crash');
    const res = await api(stack.url, 'GET', '/v1/topics/crash-retention/partitions/0/records?offset=2');
    expect(res.body.records.map((r: { value: string }) => r.value)).toEqual(['v2']);
    expect(await objectCount('crash-retention')).toBe(3);
    // The cut was never marked: the next visit marks it from its own time, the one after its grace releases it.
    expect((await compact('crash-retention', { nowMs: 2 * HOUR })).releasedSegments).toBe(0);
    expect(await objectCount('crash-retention')).toBe(3);
    expect((await compact('crash-retention', { nowMs: 3 * HOUR })).releasedSegments).toBe(2);
    expect(await objectCount('crash-retention')).toBe(1);
    expect((await entries('crash-retention')).map((e) => e.baseOffset)).toEqual([2]);
  });

  it('collects an orphan left by a produce that crashed before its commit, at the first sweep once it is older than the grace period', async () => {
    await createTopic('orphaned');
    await produceSegments('orphaned', 2, 1);
    const topic = await getTopic(stack.storage, 'orphaned');
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await stack.storage.s3.send(new PutObjectCommand({ Bucket: stack.storage.env.bucketName, Key: `data/orphaned/0/${topic.topicId}/0-crashed.kafka`, Body: Buffer.from('x') }));
    expect((await compact('orphaned')).deletedOrphans).toBe(0);
    // The sweep ran just now; the next one is a day later.
    expect((await compact('orphaned', { nowMs: Date.now() + 2 * HOUR })).deletedOrphans).toBe(0);
    const report = await compact('orphaned', { nowMs: Date.now() + DAY + HOUR });
    expect(report.deletedOrphans).toBe(1);
    expect(await objectCount('orphaned')).toBe(2);
  });
});

describe('produce during compaction', () => {
  it('loses nothing and duplicates nothing', async () => {
    await createTopic('busy');
    let producing = true;
    const producer = produceSegments('busy', 300, 4).finally(() => (producing = false));
    let runs = 0;
    while (producing) {
      await compact('busy', { settings: { mergeMinSegments: 2 } });
      runs++;
    }
    await producer;
    await compact('busy', { settings: { mergeMinSegments: 2 } });
    expect(runs).toBeGreaterThan(0);
    const { records } = await fullRead('busy');
    const values = (records as Array<{ offset: number; value: string }>).map((r) => r.value).sort();
    expect(values).toEqual(Array.from({ length: 300 }, (_, i) => `value-${i}`).sort());
    expect((records as Array<{ offset: number }>).map((r) => r.offset)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });
});
