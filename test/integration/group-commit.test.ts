import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../../local/stack.ts';
import { encodeRecordBatch, readBatchHeader } from '../../lib/codec/record-batch.ts';
import { appendBatches, type AppendHooks, type AppendedPartition } from '../../lib/log/append.ts';
import { rememberHead } from '../../lib/log/commit-writes.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { partitionPk, type IndexEntryItem } from '../../lib/storage/schema.ts';
import { api, startTestStack } from '../support/stack.ts';

// The handlers run in one worker instance; this test process appends directly as a second
// instance, with module state (head hints, queues) of its own.
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

async function pkOf(name: string): Promise<string> {
  return partitionPk((await getTopic(stack.storage, name)).topicId, 0);
}

/** Appends one record from this process (the second instance). */
async function appendHere(name: string, value: string, hooks: AppendHooks = {}, producer?: { producerId: bigint; producerEpoch: number; baseSequence: number }): Promise<AppendedPartition[]> {
  const bytes = await encodeRecordBatch([{ key: null, value: Buffer.from(value), headers: [], timestamp: 1 }], producer);
  return appendBatches(stack.storage, await getTopic(stack.storage, name), [{ partition: 0, batches: [{ bytes, header: readBatchHeader(bytes) }] }], hooks);
}

/** Appends one record through the API (the worker instance). */
async function appendThere(name: string, value: string): Promise<void> {
  const res = await api(stack.url, 'POST', `/v1/topics/${name}/records`, { records: [{ value, partition: 0 }] });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

/** Makes this process's next commit on the partition lose the race (its head hint is stale). */
async function loseNextRace(name: string): Promise<void> {
  rememberHead(await pkOf(name), { nextOffset: 0, segments: 0, bytes: 0 });
}

async function records(name: string): Promise<Array<[number, string]>> {
  const res = await api(stack.url, 'GET', `/v1/topics/${name}/partitions/0/records?offset=0&maxRecords=1000`);
  return res.body.records.map((r: { offset: number; value: string }) => [r.offset, r.value]);
}

async function partitionItems(name: string, prefix: string): Promise<Array<Record<string, unknown>>> {
  const page = await stack.storage.ddb.send(
    new QueryCommand({ TableName: stack.storage.env.tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': await pkOf(name), ':p': prefix }, ConsistentRead: true }),
  );
  return page.Items ?? [];
}

/** Dense index entries from 0, each naming an object that exists. */
async function expectSoundIndex(name: string, highWatermark: number): Promise<void> {
  const entries = (await partitionItems(name, 'S#')) as unknown as IndexEntryItem[];
  let next = 0;
  for (const entry of entries) {
    expect(entry.baseOffset).toBe(next);
    next = entry.lastOffset + 1;
    await expect(stack.storage.s3.send(new HeadObjectCommand({ Bucket: stack.storage.env.bucketName, Key: entry.objectKey }))).resolves.toBeDefined();
  }
  expect(next).toBe(highWatermark);
}

const crash = () => {
  throw new Error('injected crash');
};

describe('group commit', () => {
  it('commits, once and first, a draft whose writer crashed right after leaving it, when the next writer on the partition adopts it', async () => {
    await createTopic('gc-crashed-waiter');
    await appendHere('gc-crashed-waiter', 'before');
    await loseNextRace('gc-crashed-waiter');
    await expect(appendHere('gc-crashed-waiter', 'left', { afterDraftLeft: async () => crash() })).rejects.toThrow('injected crash');
    expect(await partitionItems('gc-crashed-waiter', 'W#')).toHaveLength(1);
    expect(await records('gc-crashed-waiter')).toEqual([[0, 'before']]);

    const [after] = await appendHere('gc-crashed-waiter', 'after');
    expect(after?.batchBaseOffsets).toEqual([2]);
    await appendHere('gc-crashed-waiter', 'later');
    expect(await records('gc-crashed-waiter')).toEqual([[0, 'before'], [1, 'left'], [2, 'after'], [3, 'later']]);
    // Committed once: its item carries its offset and is never adopted again.
    expect(await partitionItems('gc-crashed-waiter', 'W#')).toMatchObject([{ baseOffset: 1 }]);
    await expectSoundIndex('gc-crashed-waiter', 4);
  });

  it('never commits a waiting draft once it has expired, and leaves no gap', async () => {
    await createTopic('gc-expired');
    await appendHere('gc-expired', 'before');
    await loseNextRace('gc-expired');
    await expect(appendHere('gc-expired', 'expired', { afterDraftLeft: async () => crash() })).rejects.toThrow('injected crash');
    const [item] = await partitionItems('gc-expired', 'W#');
    await stack.storage.ddb.send(
      new UpdateCommand({ TableName: stack.storage.env.tableName, Key: { pk: item?.pk, sk: item?.sk }, UpdateExpression: 'SET expiresAtMs = :past', ExpressionAttributeValues: { ':past': Date.now() - 1 } }),
    );
    await appendHere('gc-expired', 'after');
    expect(await records('gc-expired')).toEqual([[0, 'before'], [1, 'after']]);
    await expectSoundIndex('gc-expired', 2);
  });

  it('lets a waiting writer learn its offset from its own item when a writer of another instance committed its draft', async () => {
    await createTopic('gc-adopted');
    await appendThere('gc-adopted', 'there-1'); // the worker's head hint: 1
    await appendHere('gc-adopted', 'here-1'); // the head moves to 2 behind the worker's back
    await loseNextRace('gc-adopted');
    // While this writer is held, the worker loses its own race, waits, takes over and
    // commits both drafts; this writer then finds its offset in its item.
    const [waited] = await appendHere('gc-adopted', 'here-2', { afterDraftLeft: () => appendThere('gc-adopted', 'there-2') });
    const all = await records('gc-adopted');
    expect(all.map(([, value]) => value).sort()).toEqual(['here-1', 'here-2', 'there-1', 'there-2']);
    expect(all.map(([offset]) => offset)).toEqual([0, 1, 2, 3]);
    expect(all.find(([, value]) => value === 'here-2')?.[0]).toBe(waited?.batchBaseOffsets[0]);
    // Adopted: the worker's draft, left after this one's, comes after it.
    expect(all.slice(2).map(([, value]) => value)).toEqual(['here-2', 'there-2']);
    // Each writer removed its own item once it knew its outcome.
    expect(await partitionItems('gc-adopted', 'W#')).toEqual([]);
    await expectSoundIndex('gc-adopted', 4);
  });

  it('never commits a draft twice when its writer crashed after learning its offset and before removing its item', async () => {
    await createTopic('gc-learnt');
    await appendThere('gc-learnt', 'there-1');
    await appendHere('gc-learnt', 'here-1');
    await loseNextRace('gc-learnt');
    await expect(appendHere('gc-learnt', 'here-2', { afterDraftLeft: () => appendThere('gc-learnt', 'there-2'), afterOffsetLearnt: async () => crash() })).rejects.toThrow('injected crash');
    expect(await partitionItems('gc-learnt', 'W#')).toMatchObject([{ baseOffset: expect.any(Number) }]);
    // This process still looks for waiting drafts (it lost a race): it must skip the committed one.
    await appendHere('gc-learnt', 'here-3');
    await appendThere('gc-learnt', 'there-3');
    const values = (await records('gc-learnt')).map(([, value]) => value);
    expect(values.sort()).toEqual(['here-1', 'here-2', 'here-3', 'there-1', 'there-2', 'there-3']);
    await expectSoundIndex('gc-learnt', 6);
  });

  it('answers an idempotent producer\'s retry of an adopted batch with the offset the adopter gave it', async () => {
    await createTopic('gc-idempotent');
    const producerId = BigInt((await api(stack.url, 'POST', '/v1/producers')).body.producerId);
    const as = (baseSequence: number) => ({ producerId, producerEpoch: 0, baseSequence });
    await appendThere('gc-idempotent', 'there-1');
    await appendHere('gc-idempotent', 'seq-0', {}, as(0));
    await loseNextRace('gc-idempotent');
    const [first] = await appendHere('gc-idempotent', 'seq-1', { afterDraftLeft: () => appendThere('gc-idempotent', 'there-2') }, as(1));
    expect(first?.batchBaseOffsets).toEqual([2]);
    // The producer never heard back and sends the batch again.
    const [retry] = await appendHere('gc-idempotent', 'seq-1', {}, as(1));
    expect(retry?.batchBaseOffsets).toEqual(first?.batchBaseOffsets);
    expect((await records('gc-idempotent')).filter(([, value]) => value === 'seq-1')).toEqual([[first?.batchBaseOffsets[0], 'seq-1']]);
    await expectSoundIndex('gc-idempotent', 4);
  });
});

describe('a hot partition', () => {
  it('gives 48 concurrent producers × 2 one-record requests over 2 instances dense offsets, each record once, each producer in order, and no 429', async () => {
    const hot = await startTestStack({ instances: 2 });
    try {
      await api(hot.url, 'POST', '/v1/topics', { name: 'hot', partitions: 1 });
      const producers = 48;
      const perProducer = 2;
      await Promise.all(
        Array.from({ length: producers }, async (_, p) => {
          for (let i = 0; i < perProducer; i++) {
            const res = await api(hot.url, 'POST', '/v1/topics/hot/records', { records: [{ value: `${p}:${i}`, partition: 0 }] });
            expect(res.status, JSON.stringify(res.body)).toBe(200);
          }
        }),
      );
      const res = await api(hot.url, 'GET', '/v1/topics/hot/partitions/0/records?offset=0&maxRecords=1000');
      const all: Array<{ offset: number; value: string }> = res.body.records;
      expect(all.map((r) => r.offset)).toEqual(Array.from({ length: producers * perProducer }, (_, i) => i));
      expect(new Set(all.map((r) => r.value)).size).toBe(producers * perProducer);
      for (let p = 0; p < producers; p++) {
        expect(all.filter((r) => r.value.startsWith(`${p}:`)).map((r) => r.value)).toEqual(Array.from({ length: perProducer }, (_, i) => `${p}:${i}`));
      }
    } finally {
      await hot.close();
    }
  });
});
