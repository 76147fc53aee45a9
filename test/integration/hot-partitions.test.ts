import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { hotPartitions } from '../../lib/client/index.ts';
import { bucketSk, bucketStart, ratesPk, recordProduced, readProduceRates } from '../../lib/log/partition-rates.ts';
import { getTopic } from '../../lib/log/topics.ts';
import type { Storage } from '../../lib/storage/clients.ts';
import { api, startTestStack } from '../support/stack.ts';
import { runCli } from '../cli/cli-runner.ts';

// Handlers run in this process: short periods keep the waits of this file under a second.
process.env.SLUICE_BACKPRESSURE_LAG_CACHE_MS = '300';
process.env.SLUICE_PRODUCE_RATE_FLUSH_MS = '0';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

async function produce(topic: string, partition: number, count: number): Promise<{ status: number; body: any; headers: Headers }> {
  return api(stack.url, 'POST', `/v1/topics/${topic}/records`, { records: Array.from({ length: count }, (_, i) => ({ value: `v${i}`, partition })) });
}

/** Counts the storage calls of a given command made through `storage`, forwarding each to the emulator. */
function counting(storage: Storage, command: string): { storage: Storage; calls: () => number } {
  let calls = 0;
  const ddb = new Proxy(storage.ddb, {
    get(target, name, receiver) {
      if (name !== 'send') return Reflect.get(target, name, receiver);
      return (cmd: { constructor: { name: string } }) => {
        if (cmd.constructor.name === command) calls++;
        return target.send(cmd as never);
      };
    },
  });
  return { storage: { ...storage, ddb }, calls: () => calls };
}

describe('produce rates', () => {
  it('reports each partition’s records/s and bytes/s over the last minute, and the hot one', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'clicks', partitions: 4 });
    for (let i = 0; i < 6; i++) expect((await produce('clicks', 0, 20)).status).toBe(200);
    expect((await produce('clicks', 1, 10)).status).toBe(200);
    expect((await produce('clicks', 2, 5)).status).toBe(200);

    const res = await api(stack.url, 'GET', '/v1/topics/clicks');

    expect(res.status).toBe(200);
    const rates = res.body.partitions.map((p: { produceRate: { recordsPerSecond: number; bytesPerSecond: number; windowMs: number } }) => p.produceRate);
    const windowSeconds = rates[0].windowMs / 1000;
    expect(windowSeconds).toBeGreaterThanOrEqual(50);
    expect(windowSeconds).toBeLessThanOrEqual(60);
    // Records: exact up to the rounding to 1/100; bytes: each record's batch share is positive.
    expect(rates.map((r: { recordsPerSecond: number }) => r.recordsPerSecond * windowSeconds)).toEqual([expect.closeTo(120, 0), expect.closeTo(10, 0), expect.closeTo(5, 0), 0]);
    expect(rates[0].bytesPerSecond).toBeGreaterThan(rates[1].bytesPerSecond);
    expect(rates[3].bytesPerSecond).toBe(0);
    expect(hotPartitions(res.body)).toEqual([0]);
    // The CLI marks it: partition 0 is over twice the mean (135 / 4 records per window).
    const cli = await runCli(['topics', 'describe', 'clicks'], stack.url);
    expect(cli.code).toBe(0);
    const rows = cli.stdout.split('\n').filter((line) => /^\d+\s+\d+\s+\d+\s/.test(line));
    expect(rows.map((row) => row.trimEnd().endsWith('HOT'))).toEqual([true, false, false, false]);
    expect(cli.stdout).toContain('RECORDS/S');
    expect(cli.stdout).toContain('1 hot partition (over twice the mean records/s of the last minute)');
  });

  it('writes one counter item per instance and partition per flush interval, not one per request (1,000 requests)', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'counted', partitions: 2 });
    const topic = await getTopic(stack.storage, 'counted');
    const { storage, calls } = counting(stack.storage, 'UpdateCommand');
    const start = 1_700_000_000_000;
    const env = { SLUICE_PRODUCE_RATE_FLUSH_MS: '5000' };

    // 1,000 requests over 4 s, on two partitions, all in one 10-s bucket.
    for (let i = 0; i < 1000; i++) await recordProduced(storage, topic, [{ partition: i % 2, records: 3, bytes: 100 }], start + i * 4, env);

    expect(calls()).toBe(2);
    // The next flush (due after 5 s) carries everything held meanwhile: nothing is lost.
    await recordProduced(storage, topic, [{ partition: 0, records: 1, bytes: 1 }, { partition: 1, records: 1, bytes: 1 }], start + 5_004, env);
    expect(calls()).toBe(4);
    const rates = await readProduceRates(stack.storage, topic, start + 5_004);
    expect(rates.map((r) => Math.round((r.recordsPerSecond * r.windowMs) / 1000))).toEqual([1501, 1501]);
  });

  it('reads a 1,000-partition topic’s rates (3,000 counter items) with one Query', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'wide', partitions: 1000 });
    const topic = await getTopic(stack.storage, 'wide');
    const now = Date.now();
    // Three buckets of counters per partition, written directly (3,000 items).
    const items = Array.from({ length: 3000 }, (_, i) => {
      const partition = i % 1000;
      const bucket = bucketStart(now) - Math.floor(i / 1000) * 10_000;
      return { pk: ratesPk(topic.topicId), sk: bucketSk(bucket, partition), partition, records: partition === 7 ? 200 : 1, bytes: 10 };
    });
    for (let i = 0; i < items.length; i += 25) {
      await stack.storage.ddb.send(new BatchWriteCommand({ RequestItems: { [stack.storage.env.tableName]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
    }
    const { storage, calls } = counting(stack.storage, 'QueryCommand');

    const rates = await readProduceRates(storage, topic, now);

    expect(calls()).toBe(1);
    expect(Math.round((rates[7]!.recordsPerSecond * rates[7]!.windowMs) / 1000)).toBe(600);
    expect(hotPartitions({ partitions: rates.map((produceRate, partition) => ({ partition, produceRate }) as never) })).toEqual([7]);
  });
});

describe('topic config sluice.backpressure.max.lag.records', () => {
  it('defaults to -1 (off) and refuses 0 and non-integers with INVALID_CONFIG', async () => {
    const created = await api(stack.url, 'POST', '/v1/topics', { name: 'bp-config', partitions: 1 });
    expect(created.body.configs['sluice.backpressure.max.lag.records']).toBe('-1');
    for (const value of [0, -2, 'lots', 1.5]) {
      const res = await api(stack.url, 'PATCH', '/v1/topics/bp-config', { configs: { 'sluice.backpressure.max.lag.records': value } });
      expect(res).toMatchObject({ status: 400, body: { error: 'INVALID_CONFIG' } });
    }
    const altered = await api(stack.url, 'PATCH', '/v1/topics/bp-config', { configs: { 'sluice.backpressure.max.lag.records': '1000' } });
    expect(altered.body.configs['sluice.backpressure.max.lag.records']).toBe('1000');
  });

  it('answers 429 THROTTLING_QUOTA_EXCEEDED with Retry-After naming the lagging group, and admits produce again once it catches up', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'bp', partitions: 2, configs: { 'sluice.backpressure.max.lag.records': 10 } });
    expect((await produce('bp', 0, 8)).status).toBe(200);
    expect((await produce('bp', 1, 8)).status).toBe(200);
    // Two groups: one up to date, one that committed and stopped at 0 on both partitions.
    expect((await api(stack.url, 'POST', '/v1/groups/fast/offsets', { offsets: [{ topic: 'bp', partition: 0, offset: 8 }, { topic: 'bp', partition: 1, offset: 8 }] })).status).toBe(200);
    expect((await api(stack.url, 'POST', '/v1/groups/stalled/offsets', { offsets: [{ topic: 'bp', partition: 0, offset: 0 }, { topic: 'bp', partition: 1, offset: 0 }] })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 350));

    const refused = await produce('bp', 0, 1);

    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'THROTTLING_QUOTA_EXCEEDED', retriable: true, group: 'stalled', lagRecords: 16, maxLagRecords: 10 });
    expect(refused.body.message).toContain('"stalled"');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const head = await api(stack.url, 'GET', '/v1/topics/bp');
    expect(head.body.partitions[0].highWatermark).toBe(8);

    // The group catches up to within the limit: produce is admitted after the cache period.
    await api(stack.url, 'POST', '/v1/groups/stalled/offsets', { offsets: [{ topic: 'bp', partition: 0, offset: 8 }, { topic: 'bp', partition: 1, offset: 0 }] });
    await new Promise((r) => setTimeout(r, 350));
    expect((await produce('bp', 0, 1)).status).toBe(200);
  });

  it('never throttles a topic with the config off, however far a group lags', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'bp-off', partitions: 1 });
    await produce('bp-off', 0, 50);
    await api(stack.url, 'POST', '/v1/groups/idle/offsets', { offsets: [{ topic: 'bp-off', partition: 0, offset: 0 }] });
    expect((await produce('bp-off', 0, 1)).status).toBe(200);
  });
});

