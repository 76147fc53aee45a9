import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { LocalStack } from '../../local/stack.ts';
import { createRequire } from 'node:module';
import { encodeRecordBatch, readBatchHeader, splitBatches } from '../../lib/codec/record-batch.ts';
import { appendBatches, type AppendHooks, type AppendedPartition } from '../../lib/log/append.ts';
import { commitCombining } from '../../lib/log/commit-queue.ts';
import { rememberHead, type SegmentDraft } from '../../lib/log/commit-writes.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { compactionWork } from '../../lib/retention/trigger.ts';
import { MAX_SEGMENTS_PER_MERGE } from '../../lib/retention/plan.ts';
import { partitionPk, type IndexEntryItem } from '../../lib/storage/schema.ts';
import { putSegmentObject } from '../../lib/storage/segment-objects.ts';
import { expectSoundIndex as expectSoundIndexOf, indexEntries as indexEntriesOf, objectKeys as objectKeysOf } from '../support/produce.ts';
import { api, startTestStack } from '../support/stack.ts';

// kafkajs, an independent RecordBatch v2 decoder.
const require = createRequire(import.meta.url);
const KafkaJsDecoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => object;
const kafkajsDecodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: object) => Promise<{ records: Array<{ value: Buffer | null }> }>;

// The handlers run in one worker instance; this test process appends directly, as a second
// instance serving many requests at once, with queues of its own.
let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({ instances: 1 });
});
afterAll(async () => {
  await stack?.close();
});

async function createTopic(name: string): Promise<void> {
  expect((await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1 })).status).toBe(201);
}

/** Starts one request's append of `values` (one batch) from this process; nothing is awaited before it queues. */
async function appendHere(name: string, values: readonly string[], hooks: AppendHooks = {}): Promise<AppendedPartition[]> {
  const bytes = await encodeRecordBatch(values.map((v) => ({ key: null, value: Buffer.from(v), headers: [], timestamp: 1 })));
  const topic = await getTopic(stack.storage, name);
  return appendBatches(stack.storage, topic, [{ partition: 0, batches: [{ bytes, header: readBatchHeader(bytes) }] }], hooks);
}

/** Encodes first, then starts every request in the same tick: the first goes alone, the rest wait for its PUT and share the next object. */
async function appendTogether(name: string, requests: ReadonlyArray<{ values: string[]; hooks?: AppendHooks }>): Promise<Array<PromiseSettledResult<AppendedPartition[]>>> {
  const topic = await getTopic(stack.storage, name);
  const parts = await Promise.all(
    requests.map(async ({ values }) => {
      const bytes = await encodeRecordBatch(values.map((v) => ({ key: null, value: Buffer.from(v), headers: [], timestamp: 1 })));
      return { partition: 0, batches: [{ bytes, header: readBatchHeader(bytes) }] };
    }),
  );
  return Promise.allSettled(parts.map((part, i) => appendBatches(stack.storage, topic, [part], requests[i]?.hooks ?? {})));
}

async function records(name: string): Promise<Array<[number, string]>> {
  const res = await api(stack.url, 'GET', `/v1/topics/${name}/partitions/0/records?offset=0&maxRecords=1000`);
  return res.body.records.map((r: { offset: number; value: string }) => [r.offset, r.value]);
}

const indexEntries = (name: string) => indexEntriesOf(stack, name);
const objectKeys = (name: string) => objectKeysOf(stack, name);
const expectSoundIndex = (name: string, highWatermark: number) => expectSoundIndexOf(stack, name, highWatermark);

const baseOf = (result: PromiseSettledResult<AppendedPartition[]>): number => {
  if (result.status !== 'fulfilled') throw new Error(`expected an answer, got ${String(result.reason)}`);
  return result.value[0]?.batchBaseOffsets[0] as number;
};

describe('segment combining', () => {
  it('gives requests one process serves at once one object and one index entry, each request its own offsets, in arrival order', async () => {
    await createTopic('sc-shared');
    const requests = Array.from({ length: 12 }, (_, i) => ({ values: i % 3 === 0 ? [`r${i}-a`, `r${i}-b`] : [`r${i}`] }));
    const settled = await appendTogether('sc-shared', requests);
    // The first went alone; the other eleven waited for its PUT and share the second object.
    expect(await objectKeys('sc-shared')).toHaveLength(2);
    const entries = await indexEntries('sc-shared');
    expect(entries.map((e) => [e.baseOffset, e.lastOffset, e.batchCount])).toEqual([
      [0, 1, 1],
      [2, 15, 11],
    ]);
    const expected: Array<[number, string]> = [];
    requests.forEach((request, i) => request.values.forEach((value, j) => expected.push([baseOf(settled[i] as PromiseSettledResult<AppendedPartition[]>) + j, value])));
    expect(expected.map(([offset]) => offset)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(await records('sc-shared')).toEqual(expected);
    await expectSoundIndex('sc-shared', 16);
  });

  it('stores a combined segment as RecordBatch v2 runs that kafkajs decodes batch by batch', async () => {
    await createTopic('sc-bytes');
    await appendTogether('sc-bytes', [{ values: ['alone'] }, { values: ['x'] }, { values: ['y', 'z'] }]);
    const combined = (await indexEntries('sc-bytes')).find((e) => e.batchCount === 2) as IndexEntryItem;
    const object = await stack.storage.s3.send(new GetObjectCommand({ Bucket: stack.storage.env.bucketName, Key: combined.objectKey }));
    const bytes = Buffer.from(await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    const runs = splitBatches(bytes.subarray(combined.byteStart, combined.byteStart + combined.byteLength));
    const decoded = await Promise.all(runs.map(async ({ start, end }) => kafkajsDecodeBatch(new KafkaJsDecoder(bytes.subarray(combined.byteStart + start, combined.byteStart + end)))));
    expect(decoded.map((b) => b.records.map((r) => r.value?.toString()))).toEqual([['x'], ['y', 'z']]);
  });

  it('answers none of the requests in an object when a crash hits between its PUT and the commit: no entry, no gap, the object an orphan', async () => {
    await createTopic('sc-crash');
    const crash = new Error('injected crash after the combined PUT');
    const settled = await appendTogether('sc-crash', [
      { values: ['first'] },
      {
        values: ['lost-1'],
        hooks: {
          afterObjectsWritten: async () => {
            throw crash;
          },
        },
      },
      { values: ['lost-2'] },
      { values: ['lost-3'] },
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
    expect(settled.slice(1).map((s) => (s as PromiseRejectedResult).reason)).toEqual([crash, crash, crash]);
    expect(await objectKeys('sc-crash')).toHaveLength(2);
    await appendHere('sc-crash', ['after']);
    expect(await records('sc-crash')).toEqual([
      [0, 'first'],
      [1, 'after'],
    ]);
    await expectSoundIndex('sc-crash', 2);
  });

  it('refuses every request in an object whose commit is refused (topic deleted meanwhile), and deletes the object', async () => {
    await createTopic('sc-refused');
    const settled = await appendTogether('sc-refused', [
      { values: ['first'] },
      { values: ['doomed-1'], hooks: { afterObjectsWritten: async () => void (await api(stack.url, 'DELETE', '/v1/topics/sc-refused')) } },
      { values: ['doomed-2'] },
    ]);
    expect(baseOf(settled[0] as PromiseSettledResult<AppendedPartition[]>)).toBe(0);
    for (const s of settled.slice(1)) expect(s).toMatchObject({ status: 'rejected', reason: { code: 'UNKNOWN_TOPIC_OR_PARTITION' } });
  });

  it('leaves the records of an object committed but unanswered (a crash after the commit) in the log once, densely', async () => {
    await createTopic('sc-unanswered');
    const crash = new Error('injected crash after the commit');
    const settled = await appendTogether('sc-unanswered', [
      { values: ['first'] },
      {
        values: ['kept-1'],
        hooks: {
          afterCommit: async () => {
            throw crash;
          },
        },
      },
      { values: ['kept-2'] },
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    await appendHere('sc-unanswered', ['after']);
    expect(await records('sc-unanswered')).toEqual([
      [0, 'first'],
      [1, 'kept-1'],
      [2, 'kept-2'],
      [3, 'after'],
    ]);
    await expectSoundIndex('sc-unanswered', 4);
  });

  it('keeps idempotent batches out of combined objects (a segment carries one producer state)', async () => {
    await createTopic('sc-idempotent');
    const producerId = BigInt((await api(stack.url, 'POST', '/v1/producers')).body.producerId);
    const topic = await getTopic(stack.storage, 'sc-idempotent');
    const parts = await Promise.all(
      ['plain-0', 'idempotent', 'plain-1', 'plain-2'].map(async (value) => {
        const bytes = await encodeRecordBatch([{ key: null, value: Buffer.from(value), headers: [], timestamp: 1 }], value === 'idempotent' ? { producerId, producerEpoch: 0, baseSequence: 0 } : {});
        return { partition: 0, batches: [{ bytes, header: readBatchHeader(bytes) }] };
      }),
    );
    await Promise.all(parts.map((part) => appendBatches(stack.storage, topic, [part])));
    // plain-0 alone, plain-1 and plain-2 together, the idempotent batch in an object of its own.
    expect(await objectKeys('sc-idempotent')).toHaveLength(3);
    expect((await indexEntries('sc-idempotent')).map((e) => e.batchCount).sort()).toEqual([1, 1, 2]);
    expect((await records('sc-idempotent')).map(([, value]) => value).sort()).toEqual(['idempotent', 'plain-0', 'plain-1', 'plain-2']);
    await expectSoundIndex('sc-idempotent', 4);
  });
});

describe('the commit queue', () => {
  it('answers the drafts a retry took in when that retry fails after its commit, as it answers its own', async () => {
    await createTopic('sc-topped-up');
    await appendHere('sc-topped-up', ['first']);
    const topic = await getTopic(stack.storage, 'sc-topped-up');
    const draftOf = async (value: string) => {
      const bytes = await encodeRecordBatch([{ key: null, value: Buffer.from(value), headers: [], timestamp: 1 }]);
      const { objectKey, expireDays } = await putSegmentObject(stack.storage, topic, 0, 'produced', bytes);
      return { partition: 0, objectKey, byteStart: 0, byteLength: bytes.length, offsetCount: 1, recordCount: 1, batchCount: 1, maxTimestamp: 1, expireDays };
    };
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map(draftOf));
    // A stale hint makes a's first transaction lose; b and c queue meanwhile and ride its retry.
    rememberHead(partitionPk(topic.topicId, 0), { nextOffset: 0, segments: 0, bytes: 0 });
    const crash = new Error('injected crash after the commit');
    let later: Array<Promise<unknown>> = [];
    const first = commitCombining(stack.storage, topic, a as SegmentDraft, {
      afterLostRace: async () => {
        later = [b, c].map((d) => commitCombining(stack.storage, topic, d as SegmentDraft).catch((e: unknown) => e));
      },
      afterCommit: async () => {
        throw crash;
      },
    }).catch((e: unknown) => e);
    expect(await first).toBe(crash);
    expect(later).toHaveLength(2);
    expect(await Promise.all(later)).toEqual([crash, crash]);
    // All three were committed (unanswered), in one transaction, once each.
    expect(await records('sc-topped-up')).toEqual([
      [0, 'first'],
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ]);
    await expectSoundIndex('sc-topped-up', 4);
  });
});

describe('compaction triggers under group commit', () => {
  it('fire once per merge run crossed, not once per draft a transaction carries', async () => {
    await createTopic('sc-trigger');
    const topic = await getTopic(stack.storage, 'sc-trigger');
    // 30 drafts (one transaction's worth of this process's) from segment 40: the 49th crosses a multiple.
    for (let i = 0; i < 40; i++) await appendHere('sc-trigger', [`pre-${i}`]);
    const drafts = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const bytes = await encodeRecordBatch([{ key: null, value: Buffer.from(`d${i}`), headers: [], timestamp: 1 }]);
        const { objectKey, expireDays } = await putSegmentObject(stack.storage, topic, 0, 'produced', bytes);
        return { partition: 0, objectKey, byteStart: 0, byteLength: bytes.length, offsetCount: 1, recordCount: 1, batchCount: 1, maxTimestamp: 1, expireDays };
      }),
    );
    const committed = await Promise.all(drafts.map((draft) => commitCombining(stack.storage, topic, draft)));
    const triggered = committed.filter((segment) => compactionWork(topic.configs, segment) === 'merge');
    expect(triggered).toHaveLength(1);
    expect(triggered[0]?.before.segments).toBeLessThan(MAX_SEGMENTS_PER_MERGE);
    expect(triggered[0]?.after.segments).toBeGreaterThanOrEqual(MAX_SEGMENTS_PER_MERGE);
    await expectSoundIndex('sc-trigger', 70);
  });
});
