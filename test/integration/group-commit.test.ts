import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../../local/stack.ts';
import { encodeRecordBatch, readBatchHeader } from '../../lib/codec/record-batch.ts';
import { appendBatches, type AppendHooks, type AppendedPartition } from '../../lib/log/append.ts';
import { rememberHead } from '../../lib/log/commit-writes.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { createStorage } from '../../lib/storage/clients.ts';
import { partitionPk } from '../../lib/storage/schema.ts';
import { expectSoundIndex as expectSoundIndexOf } from '../support/produce.ts';
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

/**
 * Makes this process's next commit on the partition lose the race twice, so its writer
 * leaves its draft in the table: the head hint is stale, and while the writer retries from
 * the head it learnt, the worker appends `value`.
 */
async function loseTwice(name: string, value: string): Promise<Pick<AppendHooks, 'afterLostRace'>> {
  rememberHead(await pkOf(name), { nextOffset: 0, segments: 0, bytes: 0 });
  let first = true;
  return {
    afterLostRace: async () => {
      if (first) await appendThere(name, value);
      first = false;
    },
  };
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

const expectSoundIndex = (name: string, highWatermark: number) => expectSoundIndexOf(stack, name, highWatermark);

const crash = () => {
  throw new Error('injected crash');
};

describe('group commit', () => {
  it('commits, once and first, a draft whose writer crashed right after leaving it, when the next writer on the partition adopts it', async () => {
    await createTopic('gc-crashed-waiter');
    await appendHere('gc-crashed-waiter', 'before');
    const race = await loseTwice('gc-crashed-waiter', 'there');
    await expect(appendHere('gc-crashed-waiter', 'left', { ...race, afterDraftLeft: async () => crash() })).rejects.toThrow('injected crash');
    expect(await partitionItems('gc-crashed-waiter', 'W#')).toHaveLength(1);
    expect(await records('gc-crashed-waiter')).toEqual([[0, 'before'], [1, 'there']]);

    const [after] = await appendHere('gc-crashed-waiter', 'after');
    expect(after?.batchBaseOffsets).toEqual([3]);
    await appendHere('gc-crashed-waiter', 'later');
    expect(await records('gc-crashed-waiter')).toEqual([[0, 'before'], [1, 'there'], [2, 'left'], [3, 'after'], [4, 'later']]);
    // Committed once: its item carries its offset and is never adopted again.
    expect(await partitionItems('gc-crashed-waiter', 'W#')).toMatchObject([{ baseOffset: 2 }]);
    await expectSoundIndex('gc-crashed-waiter', 5);
  });

  it('never commits a waiting draft once it has expired, and leaves no gap', async () => {
    await createTopic('gc-expired');
    await appendHere('gc-expired', 'before');
    const race = await loseTwice('gc-expired', 'there');
    await expect(appendHere('gc-expired', 'expired', { ...race, afterDraftLeft: async () => crash() })).rejects.toThrow('injected crash');
    const [item] = await partitionItems('gc-expired', 'W#');
    await stack.storage.ddb.send(
      new UpdateCommand({ TableName: stack.storage.env.tableName, Key: { pk: item?.pk, sk: item?.sk }, UpdateExpression: 'SET expiresAtMs = :past', ExpressionAttributeValues: { ':past': Date.now() - 1 } }),
    );
    await appendHere('gc-expired', 'after');
    expect(await records('gc-expired')).toEqual([[0, 'before'], [1, 'there'], [2, 'after']]);
    await expectSoundIndex('gc-expired', 3);
  });

  it('lets a waiting writer learn its offset from its own item when a writer of another instance committed its draft', async () => {
    await createTopic('gc-adopted');
    await appendThere('gc-adopted', 'there-0'); // the worker's head hint: 1, stale once this process appends
    await appendHere('gc-adopted', 'here-1');
    const race = await loseTwice('gc-adopted', 'there-1');
    // While this writer is held, the worker (which lost a race in appending there-1, so it
    // looks) appends there-2 and adopts this writer's draft; this writer then finds its
    // offset in its item.
    const [waited] = await appendHere('gc-adopted', 'here-2', { ...race, afterDraftLeft: () => appendThere('gc-adopted', 'there-2') });
    expect(waited?.batchBaseOffsets).toEqual([3]);
    expect(await records('gc-adopted')).toEqual([[0, 'there-0'], [1, 'here-1'], [2, 'there-1'], [3, 'here-2'], [4, 'there-2']]);
    // Each writer removed its own item once it knew its outcome.
    expect(await partitionItems('gc-adopted', 'W#')).toEqual([]);
    await expectSoundIndex('gc-adopted', 5);
  });

  it('never commits a draft twice when its writer crashed after learning its offset and before removing its item', async () => {
    await createTopic('gc-learnt');
    await appendThere('gc-learnt', 'there-0'); // the worker's head hint: 1, stale once this process appends
    await appendHere('gc-learnt', 'here-1');
    const race = await loseTwice('gc-learnt', 'there-1');
    await expect(appendHere('gc-learnt', 'here-2', { ...race, afterDraftLeft: () => appendThere('gc-learnt', 'there-2'), afterOffsetLearnt: async () => crash() })).rejects.toThrow('injected crash');
    expect(await partitionItems('gc-learnt', 'W#')).toMatchObject([{ baseOffset: 3 }]);
    // Both instances still look for waiting drafts (each lost a race): they must skip the committed one.
    await appendHere('gc-learnt', 'here-3');
    await appendThere('gc-learnt', 'there-3');
    expect(await records('gc-learnt')).toEqual([[0, 'there-0'], [1, 'here-1'], [2, 'there-1'], [3, 'here-2'], [4, 'there-2'], [5, 'here-3'], [6, 'there-3']]);
    await expectSoundIndex('gc-learnt', 7);
  });

  it('answers an idempotent producer\'s retry of an adopted batch with the offset the adopter gave it', async () => {
    await createTopic('gc-idempotent');
    await appendThere('gc-idempotent', 'there-0'); // the worker's head hint: 1, stale once this process appends
    const producerId = BigInt((await api(stack.url, 'POST', '/v1/producers')).body.producerId);
    const as = (baseSequence: number) => ({ producerId, producerEpoch: 0, baseSequence });
    await appendHere('gc-idempotent', 'seq-0', {}, as(0));
    const race = await loseTwice('gc-idempotent', 'there-1');
    const [first] = await appendHere('gc-idempotent', 'seq-1', { ...race, afterDraftLeft: () => appendThere('gc-idempotent', 'there-2') }, as(1));
    expect(first?.batchBaseOffsets).toEqual([3]);
    expect(await partitionItems('gc-idempotent', 'W#')).toEqual([]);
    // The producer never heard back and sends the batch again.
    const [retry] = await appendHere('gc-idempotent', 'seq-1', {}, as(1));
    expect(retry?.batchBaseOffsets).toEqual(first?.batchBaseOffsets);
    expect((await records('gc-idempotent')).filter(([, value]) => value === 'seq-1')).toEqual([[first?.batchBaseOffsets[0], 'seq-1']]);
    await expectSoundIndex('gc-idempotent', 5);
  });
});

describe('a stale head hint', () => {
  it('costs one failed transaction and no extra Query: a first lost race retries at once from the head it reported', async () => {
    await createTopic('gc-stale-hint');
    const calls: string[] = [];
    const counted = createStorage(stack.storage.env);
    counted.ddb.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'QueryCommand' || context.commandName === 'TransactWriteItemsCommand') calls.push(context.commandName);
        return next(args);
      },
      { step: 'initialize' },
    );
    const appendCounted = async (value: string) => {
      const bytes = await encodeRecordBatch([{ key: null, value: Buffer.from(value), headers: [], timestamp: 1 }]);
      return appendBatches(counted, await getTopic(counted, 'gc-stale-hint'), [{ partition: 0, batches: [{ bytes, header: readBatchHeader(bytes) }] }]);
    };
    await appendCounted('here-0');
    for (let round = 1; round <= 3; round++) {
      await appendThere('gc-stale-hint', `there-${round}`); // moves the head past this process's hint
      calls.length = 0;
      const [appended] = await appendCounted(`here-${round}`);
      expect(appended?.batchBaseOffsets).toEqual([2 * round]);
      // One lost race, one retry; after the first round this process looks once before committing (it lost lately), never again after the loss.
      expect(calls.filter((c) => c === 'TransactWriteItemsCommand')).toHaveLength(2);
      expect(calls.filter((c) => c === 'QueryCommand').length).toBeLessThanOrEqual(round === 1 ? 0 : 1);
    }
    await expectSoundIndex('gc-stale-hint', 7);
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
