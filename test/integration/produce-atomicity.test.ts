import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { readBatchHeader } from '../../lib/codec/record-batch.ts';
import { appendBatches, type PartitionBatches } from '../../lib/log/append.ts';
import { planCommitGroups } from '../../lib/log/commit-groups.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { SluiceError } from '../../lib/errors.ts';
import { api, startTestStack } from '../support/stack.ts';
import { batchOf, highWatermarks, newProducerId, objectKeys, produceFrames } from '../support/produce.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

async function frames(producerId: bigint, partitions: number, sequenceOf: (partition: number) => number, records = 1): Promise<Array<{ partition: number; batch: Buffer }>> {
  return Promise.all(
    Array.from({ length: partitions }, async (_, partition) => ({
      partition,
      batch: await batchOf(Array.from({ length: records }, (_, i) => `p${partition}-${sequenceOf(partition) + i}`), { producerId, producerEpoch: 0, baseSequence: sequenceOf(partition) }),
    })),
  );
}

describe('a produce request across many partitions', () => {
  it('commits an idempotent 50-partition request (more than DynamoDB\'s 100 transaction items) and answers every partition', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'wide', partitions: 50 });
    const producerId = await newProducerId(stack);
    const res = await produceFrames(stack, 'wide', await frames(producerId, 50, () => 0));
    expect(res.status).toBe(200);
    expect(res.body.batches).toEqual(Array.from({ length: 50 }, (_, partition) => ({ partition, baseOffset: 0, lastOffset: 0 })));
    // A retry of the whole request is answered from the producer state, not appended again.
    expect((await produceFrames(stack, 'wide', await frames(producerId, 50, () => 0))).body.batches).toEqual(res.body.batches);
    expect(await highWatermarks(stack, 'wide')).toEqual(Array.from({ length: 50 }, () => 1));
  });

  it('refuses a 51-partition request whose last partition is out of sequence before writing anything: no offsets, no objects', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'wide-refused', partitions: 51 });
    const producerId = await newProducerId(stack);
    expect((await produceFrames(stack, 'wide-refused', await frames(producerId, 51, () => 0))).status).toBe(200);
    const objectsBefore = await objectKeys(stack, 'wide-refused');

    const res = await produceFrames(stack, 'wide-refused', await frames(producerId, 51, (p) => (p === 50 ? 5 : 1)));

    expect(res).toMatchObject({ status: 409, body: { error: 'OUT_OF_ORDER_SEQUENCE_NUMBER' } });
    expect(res.body.committedPartitions).toBeUndefined();
    expect(await highWatermarks(stack, 'wide-refused')).toEqual(Array.from({ length: 51 }, () => 1));
    expect((await objectKeys(stack, 'wide-refused')).sort()).toEqual(objectsBefore.sort());
  });

  it('names the partitions already committed when a later transaction of a 51-partition request is refused, and deletes the rest\'s objects', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'wide-raced', partitions: 51 });
    const producerId = await newProducerId(stack);
    expect((await produceFrames(stack, 'wide-raced', await frames(producerId, 51, () => 0))).status).toBe(200);
    const topic = await getTopic(stack.storage, 'wide-raced');
    const parts: PartitionBatches[] = (await frames(producerId, 51, () => 1)).map(({ partition, batch }) => ({ partition, batches: [{ bytes: batch, header: readBatchHeader(batch) }] }));
    const groups = planCommitGroups(parts.map(() => ({ producer: { firstSequence: 1 } })));
    expect(groups.length).toBeGreaterThan(1);
    const firstGroup = Array.from({ length: (groups[0] as [number, number])[1] }, (_, p) => p);
    const objectsBefore = await objectKeys(stack, 'wide-raced');

    // A second writer with the same producer id and epoch (a zombie copy of the producer)
    // commits partition 50 after the request was judged and before its last transaction.
    const error = await appendBatches(stack.storage, topic, parts, {
      afterObjectsWritten: async () => {
        expect((await produceFrames(stack, 'wide-raced', [{ partition: 50, batch: await batchOf(['zombie-1', 'zombie-2'], { producerId, producerEpoch: 0, baseSequence: 1 }) }])).status).toBe(200);
      },
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ code: 'OUT_OF_ORDER_SEQUENCE_NUMBER', details: { committedPartitions: firstGroup } });
    const expected = Array.from({ length: 51 }, (_, p) => (firstGroup.includes(p) ? 2 : p === 50 ? 3 : 1));
    expect(await highWatermarks(stack, 'wide-raced')).toEqual(expected);
    // The committed group's objects and the zombie's stay; nothing else was left behind.
    expect((await objectKeys(stack, 'wide-raced')).length).toBe(objectsBefore.length + firstGroup.length + 1);
  });
});

describe('a refused produce', () => {
  it.each([
    ['a sequence gap', 409, 'OUT_OF_ORDER_SEQUENCE_NUMBER', async (id: bigint) => batchOf(['gap'], { producerId: id, producerEpoch: 1, baseSequence: 9 })],
    ['a fenced epoch', 409, 'INVALID_PRODUCER_EPOCH', async (id: bigint) => batchOf(['zombie'], { producerId: id, producerEpoch: 0, baseSequence: 2 })],
    ['a producer id never issued', 409, 'UNKNOWN_PRODUCER_ID', async () => batchOf(['forged'], { producerId: 1_000_000n, producerEpoch: 0, baseSequence: 0 })],
  ])('leaves no object in S3 (%s)', async (name, status, error, makeBatch) => {
    const topic = `refused-${name.replaceAll(' ', '-')}`;
    await api(stack.url, 'POST', '/v1/topics', { name: topic, partitions: 1 });
    const producerId = await newProducerId(stack);
    expect((await produceFrames(stack, topic, [{ partition: 0, batch: await batchOf(['a', 'b'], { producerId, producerEpoch: 1, baseSequence: 0 }) }])).status).toBe(200);
    const objectsBefore = await objectKeys(stack, topic);

    const res = await produceFrames(stack, topic, [{ partition: 0, batch: await makeBatch(producerId) }]);

    expect(res).toMatchObject({ status, body: { error } });
    expect(await highWatermarks(stack, topic)).toEqual([2]);
    expect(await objectKeys(stack, topic)).toEqual(objectsBefore);
  });
});
