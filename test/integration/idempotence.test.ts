import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { BATCHES_MEDIA_TYPE, encodeFrames } from '../../lib/codec/framing.ts';
import { encodeRecordBatch, readBatchHeader } from '../../lib/codec/record-batch.ts';
import { appendBatches } from '../../lib/log/append.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
let producerId: number;
beforeAll(async () => {
  stack = await startTestStack();
  await api(stack.url, 'POST', '/v1/topics', { name: 'payments', partitions: 2 });
  const init = await api(stack.url, 'POST', '/v1/producers');
  expect(init.status).toBe(200);
  producerId = init.body.producerId;
});
afterAll(async () => {
  await stack?.close();
});

async function batch(values: string[], baseSequence: number, epoch = 0): Promise<Buffer> {
  return encodeRecordBatch(
    values.map((v) => ({ key: null, value: Buffer.from(v), headers: [], timestamp: 1 })),
    { producerId: BigInt(producerId), producerEpoch: epoch, baseSequence },
  );
}

async function send(bytes: Buffer, partition = 0): Promise<{ status: number; body: any }> {
  const res = await fetch(`${stack.url}/v1/topics/payments/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body: encodeFrames([{ partition, batch: bytes }]) });
  return { status: res.status, body: await res.json() };
}

async function values(partition = 0): Promise<string[]> {
  return (await api(stack.url, 'GET', `/v1/topics/payments/partitions/${partition}/records?offset=0&maxRecords=1000`)).body.records.map((r: { value: string }) => r.value);
}

describe('the idempotent producer (KIP-98)', () => {
  it('hands out a new producer id each time', async () => {
    const other = await api(stack.url, 'POST', '/v1/producers');
    expect(other.body.producerId).not.toBe(producerId);
    expect(other.body.producerEpoch).toBe(0);
  });

  it('answers a retried batch with its original offsets and appends it once', async () => {
    const first = await batch(['a', 'b', 'c'], 0);
    const sent = await send(first);
    expect(sent).toMatchObject({ status: 200, body: { batches: [{ partition: 0, baseOffset: 0, lastOffset: 2 }] } });
    const retried = await send(first);
    expect(retried).toMatchObject({ status: 200, body: { batches: [{ partition: 0, baseOffset: 0, lastOffset: 2 }] } });
    const next = await send(await batch(['d'], 3));
    expect(next.body.batches[0].baseOffset).toBe(3);
    expect(await values()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('keeps sequences per partition', async () => {
    expect((await send(await batch(['x'], 0), 1)).status).toBe(200);
    expect((await send(await batch(['y'], 1), 1)).status).toBe(200);
    expect(await values(1)).toEqual(['x', 'y']);
  });

  it('rejects a gap in the sequence with OUT_OF_ORDER_SEQUENCE_NUMBER and writes nothing', async () => {
    const res = await send(await batch(['lost?'], 9));
    expect(res).toMatchObject({ status: 409, body: { error: 'OUT_OF_ORDER_SEQUENCE_NUMBER', retriable: false } });
    expect(await values()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('fences an older epoch once a newer one has written', async () => {
    expect((await send(await batch(['e'], 0, 1))).status).toBe(200);
    const res = await send(await batch(['zombie'], 4, 0));
    expect(res).toMatchObject({ status: 409, body: { error: 'INVALID_PRODUCER_EPOCH' } });
    expect(await values()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('leaves no duplicate when a produce committed but its answer was lost (crash between commit and acknowledgement)', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'lost-ack', partitions: 1 });
    const topic = await getTopic(stack.storage, 'lost-ack');
    const bytes = await batch(['once'], 0);
    const part = () => [{ partition: 0, batches: [{ bytes: Buffer.from(bytes), header: readBatchHeader(bytes) }] }];
    const first = await appendBatches(stack.storage, topic, part());
    // The producer never heard back and sends the same batch again.
    const again = await appendBatches(stack.storage, topic, part());
    expect(again).toEqual(first);
    const fetched = await api(stack.url, 'GET', '/v1/topics/lost-ack/partitions/0/records?offset=0');
    expect(fetched.body.records.map((r: { value: string }) => r.value)).toEqual(['once']);
    expect(fetched.body.highWatermark).toBe(1);
  });
});
