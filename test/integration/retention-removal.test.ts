import { beforeAll, describe, expect, it } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../../local/stack.ts';
import { compactPartition, type CompactionOptions } from '../../lib/retention/compact.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { listObjects } from '../../lib/retention/orphans.ts';
import { readIndex, readIndexPage } from '../../lib/retention/partition-items.ts';
import { mergeRun } from '../../lib/retention/steps.ts';
import { HEAD_SK, type HeadItem, type IndexEntryItem } from '../../lib/storage/schema.ts';
import { api } from '../support/stack.ts';
import { compactionFixture } from '../support/compaction-fixture.ts';
import { writeSyntheticEntries } from './large-partition.ts';

const fixture = compactionFixture();
const { createTopic, produce, values, pkOf, exists } = fixture;
let stack: LocalStack;
beforeAll(() => {
  stack = fixture.stack;
});

const HOUR = 3_600_000;
const MiB = 1024 * 1024;
/** Merging stays out of these tests: they are about removal. */
const NO_MERGE: CompactionOptions['settings'] = { mergeMinSegments: 1_000_000 };

/** Visits until the visit finishes its work (a loaded machine may cut one short at its time budget). */
async function compact(topic: string, options: CompactionOptions = {}) {
  const item = await getTopic(stack.storage, topic);
  let total = { removedSegments: 0, releasedSegments: 0 };
  for (let i = 0; i < 20; i++) {
    const report = await compactPartition(stack.storage, item, 0, { ...options, settings: { ...NO_MERGE, ...options.settings } });
    total = { removedSegments: total.removedSegments + report.removedSegments, releasedSegments: total.releasedSegments + report.releasedSegments };
    if (report.unfinished !== true) return { ...report, ...total };
  }
  throw new Error(`the visits to ${topic} never finished`);
}

async function head(topic: string): Promise<HeadItem> {
  const result = await stack.storage.ddb.send(new GetCommand({ TableName: stack.storage.env.tableName, Key: { pk: await pkOf(topic), sk: HEAD_SK }, ConsistentRead: true }));
  return result.Item as HeadItem;
}

async function entries(topic: string, fromOffset = 0): Promise<IndexEntryItem[]> {
  return readIndex(stack.storage, await pkOf(topic), fromOffset);
}

/** The head's sizes are exactly those of the entries still in the log (at or above removedBelowOffset). */
async function expectSizesMatchIndex(topic: string): Promise<void> {
  const h = await head(topic);
  const counted = await entries(topic, h.removedBelowOffset ?? 0);
  expect({ bytes: h.bytes, segments: h.segments }).toEqual({ bytes: counted.reduce((n, e) => n + e.byteLength, 0), segments: counted.length });
}

async function fetchAt(topic: string, offset: number) {
  return api(stack.url, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxRecords=10000&maxBytes=4194304`);
}

describe('retention and DeleteRecords on a 25,010-segment partition', () => {
  const SIZE = 25_000;
  beforeAll(async () => {
    // 25,000 synthetic 2 MiB entries (objects never written), then 10 real appends at the end.
    await createTopic('vast', { 'retention.ms': -1 });
    // A first visit while empty: its once-a-day sweep and whole-log tag check are done before the log exists.
    await compact('vast');
    await writeSyntheticEntries(stack.storage, await getTopic(stack.storage, 'vast'), { count: SIZE, byteLength: 2 * MiB, maxTimestamp: 1e13 });
    for (let i = 0; i < 10; i++) await produce('vast', `tail-${i}`);
  }, 120_000);

  it('cuts the oldest 12,500 segments for retention.bytes in one visit, keeping every entry and object until the grace is over', async () => {
    await api(stack.url, 'PATCH', '/v1/topics/vast', { configs: { 'retention.bytes': String(12_500 * 2 * MiB) } });
    const tailBytes = (await entries('vast', SIZE)).reduce((n, e) => n + e.byteLength, 0);
    const report = await compact('vast');
    expect(report).toMatchObject({ removedSegments: 12_500, releasedSegments: 0, logStartOffset: 12_500 });
    expect(await head('vast')).toMatchObject({ logStartOffset: 12_500, removedBelowOffset: 12_500, segments: 12_510, bytes: 12_500 * 2 * MiB + tailBytes });
    expect(await fetchAt('vast', 12_499)).toMatchObject({ status: 416, body: { error: 'OFFSET_OUT_OF_RANGE', logStartOffset: 12_500 } });
    expect(await values('vast', SIZE)).toEqual(Array.from({ length: 10 }, (_, i) => `tail-${i}`));
    // The oldest cut entry is still indexed (below the log start, where nothing resolves it).
    expect((await readIndexPage(stack.storage, await pkOf('vast'), 0, 1)).entries.map((e) => e.lastOffset)).toEqual([0]);
  });

  it('applies DeleteRecords past 12,505 more segments, then releases all 25,005 cut entries and their objects after the grace', async () => {
    expect((await api(stack.url, 'POST', '/v1/topics/vast/partitions/0/delete-records', { offset: SIZE + 5 })).body).toMatchObject({ logStartOffset: SIZE + 5 });
    const cut = await compact('vast');
    expect(cut).toMatchObject({ removedSegments: 12_505, logStartOffset: SIZE + 5 });
    await expectSizesMatchIndex('vast');
    const tail = await entries('vast', SIZE);
    const released = await compact('vast', { nowMs: Date.now() + HOUR });
    expect(released.releasedSegments).toBe(SIZE + 5);
    expect((await entries('vast')).map((e) => e.baseOffset)).toEqual([SIZE + 5, SIZE + 6, SIZE + 7, SIZE + 8, SIZE + 9]);
    for (const [i, entry] of tail.entries()) expect(await exists(entry.objectKey), `tail-${i}`).toBe(i >= 5);
    expect(await values('vast', SIZE + 5)).toEqual(['tail-5', 'tail-6', 'tail-7', 'tail-8', 'tail-9']);
    await expectSizesMatchIndex('vast');
  });
});

describe('a crash injected at each step of a removal', () => {
  const crash = async () => {
    throw new Error('injected crash');
  };

  it.each([
    ['after the cut, before its release is marked', { afterRetentionCommit: crash }],
    ['after a release deleted the objects, before it deletes their entries', { afterSegmentObjectsDeleted: crash }],
  ] as const)('loses no record above the log start and the next visits finish the removal: %s', async (_step, hooks) => {
    const name = `rm-crash-${Object.keys(hooks)[0]}`;
    await createTopic(name, { 'retention.ms': 1000 });
    for (let i = 0; i < 5; i++) await produce(name, `v${i}`, 0, 1);
    await produce(name, 'v5', 0, 1e13);
    const startMs = Date.now();
    const releasing = 'afterSegmentObjectsDeleted' in hooks;
    if (releasing) await compact(name, { nowMs: startMs });
    await expect(compactPartition(stack.storage, await getTopic(stack.storage, name), 0, { hooks, nowMs: startMs + (releasing ? HOUR : 0) })).rejects.toThrow('injected crash');

    // The log reads from its start, every entry in it names an object that exists, and below it is out of range.
    expect(await values(name, 5)).toEqual(['v5']);
    expect(await fetchAt(name, 4)).toMatchObject({ status: 416, body: { logStartOffset: 5 } });
    for (const entry of await entries(name)) if (entry.lastOffset >= 5) expect(await exists(entry.objectKey)).toBe(true);
    await expectSizesMatchIndex(name);

    // The next visits finish: only the live entry and its object remain.
    await compact(name, { nowMs: startMs + 2 * HOUR });
    await compact(name, { nowMs: startMs + 3 * HOUR });
    const live = await entries(name);
    expect(live.map((e) => e.baseOffset)).toEqual([5]);
    expect((await listObjects(stack.storage, `data/${name}/`)).map((o) => o.Key)).toEqual([live[0]!.objectKey]);
    await expectSizesMatchIndex(name);
    expect(await values(name, 5)).toEqual(['v5']);
  });
});

describe('a merge that a cut overtakes', () => {
  it('is refused, so the cut entries are neither merged back into the log nor counted twice', async () => {
    await createTopic('overtaken', { 'retention.ms': -1 });
    for (let i = 0; i < 6; i++) await produce('overtaken', `v${i}`);
    const topic = await getTopic(stack.storage, 'overtaken');
    const run = (await entries('overtaken')).slice(0, 4);
    // DeleteRecords and a visit cut the run while the merge is in flight.
    await api(stack.url, 'POST', '/v1/topics/overtaken/partitions/0/delete-records', { offset: 3 });
    await compact('overtaken');
    expect(await mergeRun(stack.storage, topic, 0, await pkOf('overtaken'), run, Date.now(), Date.now())).toBe(false);
    await expectSizesMatchIndex('overtaken');
    expect(await values('overtaken', 3)).toEqual(['v3', 'v4', 'v5']);
  });
});

describe('removal racing produce and fetch', () => {
  it('never deletes an acknowledged record above the log start, keeps sizes exact, and answers every fetch with the right records or OFFSET_OUT_OF_RANGE below the start', async () => {
    const value = (i: number) => `r${i}-${'y'.repeat(2000)}`;
    await createTopic('raced', { 'retention.ms': -1, 'retention.bytes': 30 * 2100 });
    const acked = new Map<number, string>();
    let next = 0;
    let producing = true;
    // At least 150 records, and on until a release has run while they were produced and fetched.
    let releasedWhileRacing = 0;
    const deadline = Date.now() + 60_000;
    const producers = Promise.all(
      Array.from({ length: 3 }, async () => {
        while (next < 150 || (releasedWhileRacing === 0 && Date.now() < deadline)) {
          const v = value(next++);
          for (;;) {
            const res = await api(stack.url, 'POST', '/v1/topics/raced/records', { records: [{ value: v, partition: 0 }] });
            if (res.status === 200) {
              acked.set(res.body.offsets[0].offset, v);
              break;
            }
            expect(res.body.retriable, JSON.stringify(res.body)).toBe(true);
          }
        }
      }),
    ).finally(() => (producing = false));
    const problems: string[] = [];
    const fetchers = Promise.all(
      Array.from({ length: 2 }, async () => {
        while (producing) {
          const { body: described } = await api(stack.url, 'GET', '/v1/topics/raced');
          const from = described.partitions[0].logStartOffset;
          const res = await fetchAt('raced', from);
          if (res.status === 416) {
            if (!(from < res.body.logStartOffset)) problems.push(`416 at ${from} inside [${res.body.logStartOffset}, ${res.body.highWatermark}]`);
          } else if (res.status !== 200) {
            problems.push(`${res.status} ${JSON.stringify(res.body)}`);
          } else {
            for (const r of res.body.records as Array<{ offset: number; value: string }>) if (!r.value.startsWith(`r`) || r.offset < from) problems.push(`record ${r.offset} out of place`);
          }
        }
      }),
    );
    // Visits with a short grace (5 s of real time), so releases run while fetches are in flight.
    let visits = 0;
    while (producing) {
      releasedWhileRacing += (await compact('raced', { settings: { deleteGraceMs: 5_000 } })).releasedSegments;
      visits++;
    }
    await Promise.all([producers, fetchers]);
    await compact('raced', { nowMs: Date.now() + HOUR });
    await compact('raced', { nowMs: Date.now() + 2 * HOUR });
    expect(visits).toBeGreaterThan(1);
    expect(releasedWhileRacing).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    const h = await head('raced');
    expect(h.logStartOffset).toBeGreaterThan(0);
    // Offsets dense, every acknowledged record from the log start on readable with its value.
    const expected = [...acked.entries()].filter(([offset]) => offset >= h.logStartOffset).sort(([a], [b]) => a - b);
    expect(expected.map(([o]) => o)).toEqual(Array.from({ length: acked.size - h.logStartOffset }, (_, i) => h.logStartOffset + i));
    expect(await values('raced', h.logStartOffset)).toEqual(expected.map(([, v]) => v));
    await expectSizesMatchIndex('raced');
    expect((await entries('raced')).every((e) => e.lastOffset >= (h.removedBelowOffset ?? 0))).toBe(true);
  }, 180_000);
});
