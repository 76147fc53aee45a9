import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { Sluice, SluiceError } from '../../lib/client/index.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { partitionPk } from '../../lib/storage/schema.ts';
import { queryPages } from '../../lib/storage/query-pages.ts';
import { startTestStack } from '../support/stack.ts';
import { FAST } from './group-members.ts';
import { createTopic, harness, readAll } from './helpers.ts';

// The handlers run in this process: a 300 ms lag cache (Retry-After 1 s) keeps the waits short.
process.env.SLUICE_BACKPRESSURE_LAG_CACHE_MS = '300';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const throttled = { status: 429, body: { error: 'THROTTLING_QUOTA_EXCEEDED', message: 'slow down', retriable: true }, headers: { 'retry-after': '1' } };

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Class: Producer under throttling', () => {
  it('waits out a 429’s Retry-After before retrying, and reports the throttled time in stats()', async () => {
    await createTopic(stack.url, 'retry-after', 1);
    const h = harness();
    h.faults.push(throttled);
    const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer();

    const started = Date.now();
    const [result] = await producer.send({ topic: 'retry-after', messages: [{ value: 'a' }] });
    const tookMs = Date.now() - started;
    await producer.disconnect();

    expect(result?.offset).toBe(0);
    expect(tookMs).toBeGreaterThanOrEqual(1000);
    expect(producer.stats()).toMatchObject({ throttledRequests: 1, throttleTimeMs: expect.any(Number) });
    expect(producer.stats().throttleTimeMs).toBeGreaterThanOrEqual(1000);
  });

  it('makes send() wait while the buffer is full, and rejects what it could not buffer within maxBlockMs', async () => {
    // Prepare: the first request hangs in flight and holds the whole buffer.
    await createTopic(stack.url, 'blocked', 1);
    const h = harness();
    let release!: () => void;
    h.gate = new Promise((r) => (release = r));
    const producer = new Sluice({ url: stack.url, fetch: h.fetch }).producer({ bufferMemoryBytes: 1000, maxBlockMs: 1000, lingerMs: 0 });
    const first = producer.send({ topic: 'blocked', messages: [{ value: 'x'.repeat(900) }] });
    await until(() => producer.stats().inFlightRequests === 1, 'the first request in flight');

    // Act
    const started = Date.now();
    const second = await producer.send({ topic: 'blocked', messages: [{ value: 'y'.repeat(900) }] }).catch((e: unknown) => e);
    const blockedMs = Date.now() - started;
    // A send that finds space within maxBlockMs goes through.
    const third = producer.send({ topic: 'blocked', messages: [{ value: 'z'.repeat(900) }] });
    h.gate = undefined;
    release();

    // Assess
    expect(blockedMs).toBeGreaterThanOrEqual(990);
    expect(second).toBeInstanceOf(SluiceError);
    expect(second).toMatchObject({ code: 'REQUEST_TIMED_OUT', message: expect.stringContaining('maxBlockMs') });
    expect((await first)[0]?.offset).toBe(0);
    expect((await third)[0]?.offset).toBe(1);
    await producer.disconnect();
    expect(producer.stats()).toMatchObject({ blockTimeouts: 1 });
    expect(producer.stats().blockedTimeMs).toBeGreaterThanOrEqual(990);
    expect((await readAll(stack.url, 'blocked', 0)).map((r) => r.value?.[0])).toEqual(['x', 'z']);
  });
});

describe('Class: Producer after its state expired', () => {
  it('renews its identity and resends on UNKNOWN_PRODUCER_ID, appending each record once and in order', async () => {
    // Prepare: a producer writes, then idles past the producer-state expiry (its state items removed, as TTL does).
    await createTopic(stack.url, 'idle', 2);
    const producer = new Sluice({ url: stack.url }).producer();
    await producer.send({ topic: 'idle', messages: [0, 1, 2].map((i) => ({ value: `a${i}`, partition: i % 2 })) });
    const topic = await getTopic(stack.storage, 'idle');
    for (const partition of [0, 1]) {
      const pk = partitionPk(topic.topicId, partition);
      for await (const page of queryPages<{ pk: string; sk: string }>(stack.storage, { KeyConditionExpression: 'pk = :pk AND begins_with(sk, :pid)', ExpressionAttributeValues: { ':pk': pk, ':pid': 'PID#' } })) {
        for (const item of page) await stack.storage.ddb.send(new DeleteCommand({ TableName: stack.storage.env.tableName, Key: { pk: item.pk, sk: item.sk } }));
      }
    }

    // Act
    const results = await producer.send({ topic: 'idle', messages: [3, 4, 5, 6].map((i) => ({ value: `a${i}`, partition: i % 2 })) });
    await producer.disconnect();

    // Assess
    expect(results.map((r) => [r.partition, r.offset])).toEqual([[1, 1], [0, 2], [1, 2], [0, 3]]);
    expect(producer.stats().identityRenewals).toBe(1);
    expect((await readAll(stack.url, 'idle', 0)).map((r) => r.value)).toEqual(['a0', 'a2', 'a4', 'a6']);
    expect((await readAll(stack.url, 'idle', 1)).map((r) => r.value)).toEqual(['a1', 'a3', 'a5']);
  });
});

describe('Lag-driven backpressure end to end', () => {
  it('slows producers while a group stops consuming, resumes once it catches up, and loses nothing (200 records, limit 40)', async () => {
    // Prepare
    await createTopic(stack.url, 'ad-clicks', 2, { 'sluice.backpressure.max.lag.records': 40 });
    const sluice = new Sluice({ url: stack.url });
    const handled: string[] = [];
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    let stalled = true;
    const consumer = sluice.consumer({ groupId: 'aggregator', ...FAST });
    consumer.subscribe({ topic: 'ad-clicks', fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        // The group stops consuming after 20 records, until released.
        if (stalled && handled.length >= 20) await resumed;
        handled.push(String(message.value));
      },
    });
    const producer = sluice.producer({ retries: 100, lingerMs: 0 });
    const values = Array.from({ length: 200 }, (_, i) => `c${i}`);

    const send = (i: number) => producer.send({ topic: 'ad-clicks', messages: values.slice(i, i + 20).map((value, j) => ({ key: `ad-${(i + j) % 2}`, value })) });
    // The group handles and commits the first 20, then stops (a group counts once it has committed).
    await send(0);
    const committed = async () => (await sluice.admin().describeGroup('aggregator')).partitions.reduce((n, p) => n + (p.committedOffset ?? 0), 0);
    await until(async () => (await committed()) >= 20, 'the group to commit its first 20 records');

    // Act
    // Paced, so that the 300 ms lag reading is refreshed while sends go on: unpaced, a quiet
    // machine sends all 180 records within one reading taken before the lag grew.
    const producing = (async () => {
      for (let i = 20; i < values.length; i += 20) {
        await send(i);
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    await until(() => producer.stats().throttledRequests > 0, 'the producer to be throttled');
    const highWatermark = async () => (await sluice.admin().describeTopic('ad-clicks')).partitions.reduce((n, p) => n + p.highWatermark, 0);
    const atThrottle = await highWatermark();
    await new Promise((r) => setTimeout(r, 1500));
    const whileStalled = await highWatermark();
    stalled = false;
    resume();
    await producing;
    await until(() => new Set(handled).size >= values.length, 'the group to catch up');
    await consumer.stop();
    await producer.disconnect();

    // Assess: nothing appended while the group lagged; then every record in the log once, in
    // send order per key, and handled by the group (at least once, as a group consumer does).
    expect(whileStalled).toBe(atThrottle);
    expect(atThrottle).toBeLessThan(values.length);
    expect(producer.stats().throttleTimeMs).toBeGreaterThanOrEqual(1000);
    expect([...new Set(handled)].sort()).toEqual([...values].sort());
    const partitions = [await readAll(stack.url, 'ad-clicks', 0), await readAll(stack.url, 'ad-clicks', 1)];
    expect(partitions.flat().map((r) => r.value).sort()).toEqual([...values].sort());
    for (const records of partitions) {
      const sequence = records.map((r) => Number(r.value?.slice(1)));
      expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
    }
  });
});
