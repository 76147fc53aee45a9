/**
 * The producer under faults, through the seeded fault proxy: dropped connections, lost
 * answers, 5xx and 429s, and delays longer than the request timeout — so a request the
 * client gave up on reaches the server later (a late copy). With one retry, some requests
 * fail for good, which is where Kafka's epoch rule matters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { BATCHES_MEDIA_TYPE, encodeFrames } from '../../lib/codec/framing.ts';
import { encodeRecordBatch } from '../../lib/codec/record-batch.ts';
import { partitionForKey } from '../../lib/log/partitioner.ts';
import { api } from '../support/stack.ts';
import { SendError, Sluice, SluiceError, type RecordMetadata } from '../../lib/client/index.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { startTestStack } from '../support/stack.ts';
import { createTopic, harness, readAll } from './helpers.ts';

let stack: LocalStack;
let proxy: FaultProxy | undefined;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await proxy?.close();
  await stack?.close();
});

/** What the proxy can make a request fail with; anything else is a client or server bug. */
const FAULT_CODES = ['REQUEST_TIMED_OUT', 'UNKNOWN_SERVER_ERROR', 'KAFKA_STORAGE_ERROR', 'THROTTLING_QUOTA_EXCEEDED'];

describe('Producer under faults', () => {
  it('with 12 keys × 24 pipelined sends under seeded faults and late copies: fails only with the faults, never reorders or duplicates a key, and every acknowledged or landed record is where it was reported', async () => {
    // Prepare
    await createTopic(stack.url, 'faulty', 4);
    proxy = await startFaultProxy(stack.url, {
      seed: 42,
      match: (r) => r.method === 'POST' && r.path.endsWith('/records'),
      rates: { drop: 0.05, loseAnswer: 0.08, status500: 0.04, status503: 0.04, status429: 0.02, delay: 0.2 },
      // Up to twice the request timeout: a delayed request often arrives after the client gave up on it.
      maxDelayMs: 4000,
      retryAfterSeconds: 0,
    });
    // Batches of ~1 KiB, up to four in a request (several of one partition when it was muted meanwhile).
    const producer = new Sluice({ url: proxy.url }).producer({ retries: 1, retryBackoffMs: 10, retryBackoffMaxMs: 50, requestTimeoutMs: 2000, batchBytes: 1024, maxRequestBytes: 4096, lingerMs: 5 });
    const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`);
    const padding = '.'.repeat(250);

    // Act: sends keep coming while requests fail, so later records of a key are sent while a late copy is still on its way.
    const sends: Array<Promise<PromiseSettledResult<RecordMetadata[]> & { key: string; seq: number }>> = [];
    for (let seq = 0; seq < 24; seq++) {
      for (const key of keys) {
        const sent = producer.send({ topic: 'faulty', messages: [{ key, value: `${key}:${seq}:${padding}` }] });
        sends.push(sent.then((value) => ({ status: 'fulfilled' as const, value, key, seq }), (reason: unknown) => ({ status: 'rejected' as const, reason, key, seq })));
      }
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    const outcomes = await Promise.all(sends);
    await producer.disconnect();
    // Late copies still held by the proxy land (or are fenced) before the log is read.
    await new Promise((resolve) => setTimeout(resolve, 4000));

    // Assess
    const log = new Map<number, Map<number, string>>();
    const order = new Map<string, number[]>();
    for (let p = 0; p < 4; p++) {
      const records = await readAll(stack.url, 'faulty', p);
      log.set(p, new Map(records.map((r) => [r.offset, r.value as string])));
      for (const r of records) {
        const [key, seq] = (r.value as string).split(':') as [string, string];
        expect(partitionForKey(Buffer.from(key), 4)).toBe(p);
        order.set(key, [...(order.get(key) ?? []), Number(seq)]);
      }
    }
    const rejected = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as SluiceError] : []));
    expect(rejected.map((e) => e.code).filter((code) => !FAULT_CODES.includes(code))).toEqual([]);
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected.length).toBeLessThan(outcomes.length);
    // Per key, the log holds each send at most once and in send order, whatever failed.
    for (const key of keys) {
      const seqs = order.get(key) ?? [];
      expect(seqs, key).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size, key).toBe(seqs.length);
    }
    for (const outcome of outcomes) {
      const placed = outcome.status === 'fulfilled' ? outcome.value : (outcome.reason as SendError).landed;
      for (const r of placed) expect(log.get(r.partition)?.get(r.offset)).toBe(`${outcome.key}:${outcome.seq}:${padding}`);
    }
    expect(proxy.log.filter((r) => r.fault === 'delay').length).toBeGreaterThan(0);
  });

  it('bumps the epoch through InitProducerId with the current id and epoch, and fences a late copy of the old epoch (INVALID_PRODUCER_EPOCH)', async () => {
    await createTopic(stack.url, 'fenced-epoch', 1);
    const { producerId } = (await api(stack.url, 'POST', '/v1/producers')).body as { producerId: number };
    const produce = async (value: string, producerEpoch: number, baseSequence: number) => {
      const batch = await encodeRecordBatch([{ key: null, value: Buffer.from(value), headers: [], timestamp: 1 }], { producerId: BigInt(producerId), producerEpoch, baseSequence });
      const res = await fetch(`${stack.url}/v1/topics/fenced-epoch/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body: encodeFrames([{ partition: 0, batch }]) });
      return { status: res.status, body: (await res.json()) as { error?: string } };
    };
    expect((await produce('first', 0, 0)).status).toBe(200);
    const bumped = await api(stack.url, 'POST', '/v1/producers', { producerId, producerEpoch: 0 });
    expect(bumped).toMatchObject({ status: 200, body: { producerId, producerEpoch: 1 } });
    // Asked again with the same epoch (its answer was lost): the same answer.
    expect((await api(stack.url, 'POST', '/v1/producers', { producerId, producerEpoch: 0 })).body).toEqual({ producerId, producerEpoch: 1 });
    expect((await produce('second', 1, 0)).status).toBe(200);
    // The copy of epoch 0's next batch that arrives late.
    expect(await produce('late', 0, 1)).toMatchObject({ status: 409, body: { error: 'INVALID_PRODUCER_EPOCH' } });
    expect((await readAll(stack.url, 'fenced-epoch', 0)).map((r) => r.value)).toEqual(['first', 'second']);
    expect((await api(stack.url, 'POST', '/v1/producers', { producerId, producerEpoch: 32_767 })).body.producerId).not.toBe(producerId);
    expect((await api(stack.url, 'POST', '/v1/producers', { producerId: -1, producerEpoch: 0 })).status).toBe(400);
  });

  it('rejects a send whose second request failed with a SendError naming the partition and offset that landed', async () => {
    await createTopic(stack.url, 'half-sent', 2);
    const h = harness();
    let requests = 0;
    h.matches = (r) => r.method === 'POST' && r.path.endsWith('/records') && requests++ === 1;
    h.faults.push({ status: 400, body: { error: 'INVALID_RECORD', message: 'injected', retriable: false } });
    // Each partition's batch is close to maxRequestBytes: one request per partition.
    const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer({ maxRequestBytes: 1024, lingerMs: 20 });
    const big = Buffer.alloc(700, 'x');
    const error = await producer.send({ topic: 'half-sent', messages: [{ partition: 0, value: big }, { partition: 1, value: big }] }).catch((e: unknown) => e);
    await producer.disconnect();

    expect(error).toBeInstanceOf(SendError);
    expect(error).toBeInstanceOf(SluiceError);
    const { landed, failedIndices, code, message } = error as SendError;
    expect(code).toBe('INVALID_RECORD');
    expect(landed).toHaveLength(1);
    expect(failedIndices).toEqual([1 - (landed[0]?.index ?? 0)]);
    const [first] = landed as [SendError['landed'][number]];
    expect(first).toMatchObject({ topic: 'half-sent', partition: first.index, offset: 0 });
    expect(message).toContain(`1 of 2 messages were appended (partition ${first.partition}: offsets 0–0`);
    expect((await readAll(stack.url, 'half-sent', first.partition)).map((r) => r.value)).toEqual([big.toString()]);
    expect(await readAll(stack.url, 'half-sent', 1 - first.partition)).toEqual([]);
  });
});
