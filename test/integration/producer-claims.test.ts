import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../../local/stack.ts';
import { crc32c } from '../../lib/codec/crc32c.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { MAX_SEQUENCE } from '../../lib/log/producer-state.ts';
import { partitionPk } from '../../lib/storage/schema.ts';
import { api, startTestStack } from '../support/stack.ts';
import { batchOf, highWatermarks, newProducerId, objectKeys, produceFrames } from '../support/produce.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

/** RecordBatch v2 field positions (Kafka's DefaultRecordBatch). */
const ATTRIBUTES = 21;
const MAX_TIMESTAMP = 35;

async function values(topic: string): Promise<string[]> {
  return (await api(stack.url, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=0`)).body.records.map((r: { value: string }) => r.value);
}

describe('the idempotent producer, by Kafka\'s rules', () => {
  it('refuses a producer with no state on a partition unless it starts at sequence 0', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'fresh', partitions: 1 });
    const producerId = await newProducerId(stack);
    const res = await produceFrames(stack, 'fresh', [{ partition: 0, batch: await batchOf(['mid-stream'], { producerId, producerEpoch: 0, baseSequence: 5 }) }]);
    expect(res).toMatchObject({ status: 409, body: { error: 'UNKNOWN_PRODUCER_ID' } });
    expect(await highWatermarks(stack, 'fresh')).toEqual([0]);
    expect(await objectKeys(stack, 'fresh')).toEqual([]);
    expect((await produceFrames(stack, 'fresh', [{ partition: 0, batch: await batchOf(['first'], { producerId, producerEpoch: 0, baseSequence: 0 }) }])).status).toBe(200);
  });

  it('refuses a producer id that was never issued with UNKNOWN_PRODUCER_ID', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'forged-id', partitions: 1 });
    const unissued = (await newProducerId(stack)) + 1000n;
    const res = await produceFrames(stack, 'forged-id', [{ partition: 0, batch: await batchOf(['x'], { producerId: unissued, producerEpoch: 0, baseSequence: 0 }) }]);
    expect(res).toMatchObject({ status: 409, body: { error: 'UNKNOWN_PRODUCER_ID', retriable: false } });
    expect(await highWatermarks(stack, 'forged-id')).toEqual([0]);
  });

  it('takes first batches of two producers in one request (one issued check covers both)', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'two-producers', partitions: 2 });
    const [a, b] = [await newProducerId(stack), await newProducerId(stack)];
    const res = await produceFrames(stack, 'two-producers', [
      { partition: 0, batch: await batchOf(['from-a'], { producerId: a, producerEpoch: 0, baseSequence: 0 }) },
      { partition: 1, batch: await batchOf(['from-b'], { producerId: b, producerEpoch: 0, baseSequence: 0 }) },
    ]);
    expect(res.status).toBe(200);
    expect(await highWatermarks(stack, 'two-producers')).toEqual([1, 1]);
  });

  it('refuses producer id 0, which is never issued, before writing anything', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'id-zero', partitions: 1 });
    const res = await produceFrames(stack, 'id-zero', [{ partition: 0, batch: await batchOf(['x'], { producerId: 0n, producerEpoch: 0, baseSequence: 0 }) }]);
    expect(res).toMatchObject({ status: 409, body: { error: 'UNKNOWN_PRODUCER_ID' } });
    expect(await objectKeys(stack, 'id-zero')).toEqual([]);
  });

  it('follows sequence 2^31 - 1 with 0, inside a batch and across batches', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'wrapped', partitions: 1 });
    const topic = await getTopic(stack.storage, 'wrapped');
    const producerId = await newProducerId(stack);
    // Reaching sequence 2^31 through the API takes 2^31 records; the state of a producer
    // that has sent them is written directly.
    await stack.storage.ddb.send(
      new PutCommand({
        TableName: stack.storage.env.tableName,
        Item: { pk: partitionPk(topic.topicId, 0), sk: `PID#${producerId}`, producerEpoch: 0, firstSequence: MAX_SEQUENCE - 4, lastSequence: MAX_SEQUENCE - 2, baseOffset: 0, updatedAtMs: Date.now() },
      }),
    );
    const across = await produceFrames(stack, 'wrapped', [{ partition: 0, batch: await batchOf(['max-1', 'max', 'zero'], { producerId, producerEpoch: 0, baseSequence: MAX_SEQUENCE - 1 }) }]);
    expect(across.status).toBe(200);
    const after = await produceFrames(stack, 'wrapped', [{ partition: 0, batch: await batchOf(['one'], { producerId, producerEpoch: 0, baseSequence: 1 }) }]);
    expect(after).toMatchObject({ status: 200, body: { batches: [{ baseOffset: 3, lastOffset: 3 }] } });
    expect(await values('wrapped')).toEqual(['max-1', 'max', 'zero', 'one']);
  });

  it('answers a retried batch on a LogAppendTime topic with its original LogAppendTime', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'stamped', partitions: 1, configs: { 'message.timestamp.type': 'LogAppendTime' } });
    const producerId = await newProducerId(stack);
    const frames = [{ partition: 0, batch: await batchOf(['once'], { producerId, producerEpoch: 0, baseSequence: 0 }) }];
    const first = await produceFrames(stack, 'stamped', frames);
    expect(first.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 25));
    const retried = await produceFrames(stack, 'stamped', frames);
    expect(retried).toMatchObject({ status: 200, body: { batches: first.body.batches, logAppendTime: first.body.logAppendTime } });
    const stored = (await api(stack.url, 'GET', '/v1/topics/stamped/partitions/0/records?offset=0')).body.records;
    expect(stored.map((r: { timestamp: number }) => r.timestamp)).toEqual([first.body.logAppendTime]);
  });
});

describe('the timestamps a batch claims', () => {
  it('refuses a batch whose header maxTimestamp is not its largest record timestamp (ListOffsets trusts it)', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'lying-max', partitions: 1 });
    const batch = await batchOf(['a', 'b'], {}, 1_000);
    batch.writeBigInt64BE(9_000_000_000_000n, MAX_TIMESTAMP);
    batch.writeUInt32BE(crc32c(batch, ATTRIBUTES, batch.length), 17);
    const res = await produceFrames(stack, 'lying-max', [{ partition: 0, batch }]);
    expect(res).toMatchObject({ status: 400, body: { error: 'INVALID_TIMESTAMP' } });
    expect(await highWatermarks(stack, 'lying-max')).toEqual([0]);
    expect(await objectKeys(stack, 'lying-max')).toEqual([]);
  });

  it('refuses the LogAppendTime attribute on a CreateTime topic, where it would forge every record\'s timestamp', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'create-time', partitions: 1 });
    const res = await produceFrames(stack, 'create-time', [{ partition: 0, batch: await batchOf(['forged'], { timestampType: 'LogAppendTime' }, 5) }]);
    expect(res).toMatchObject({ status: 400, body: { error: 'INVALID_TIMESTAMP' } });
    expect(await highWatermarks(stack, 'create-time')).toEqual([0]);
  });

  it('stamps a LogAppendTime topic\'s batches itself, whatever attribute the producer sent', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'append-time', partitions: 1, configs: { 'message.timestamp.type': 'LogAppendTime' } });
    const before = Date.now();
    const res = await produceFrames(stack, 'append-time', [{ partition: 0, batch: await batchOf(['claimed'], { timestampType: 'LogAppendTime' }, 5) }]);
    expect(res.status).toBe(200);
    expect(res.body.logAppendTime).toBeGreaterThanOrEqual(before);
    const stored = (await api(stack.url, 'GET', '/v1/topics/append-time/partitions/0/records?offset=0')).body.records;
    expect(stored.map((r: { timestamp: number }) => r.timestamp)).toEqual([res.body.logAppendTime]);
  });
});
