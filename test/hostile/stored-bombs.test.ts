import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { compress } from '../../lib/codec/compression.ts';
import { BATCHES_MEDIA_TYPE, decodeFrames, encodeFrames } from '../../lib/codec/framing.ts';
import { encodeRecordBatch } from '../../lib/codec/record-batch.ts';
import { LIMITS } from '../../lib/config/defaults.ts';
import { compactTopicPartition } from '../../lib/retention/compact.ts';
import { api, startTestStack } from '../support/stack.ts';
import { bombBatch, expectContained, MIB, rawBatch, send, snapshot, storeBatches, underAttack, zeroRecord } from './attack.ts';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

async function createTopic(name: string, configs: Record<string, string | number> = {}): Promise<void> {
  const res = await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1, configs: { 'max.message.bytes': 4 * MIB, ...configs } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

async function produceBatch(topic: string, batch: Buffer): Promise<void> {
  const res = await send(`${stack.url}/v1/topics/${topic}/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body: encodeFrames([{ partition: 0, batch }]) });
  expect(res.status, res.message).toBe(200);
}

const records = (topic: string, query: string) => `${stack.url}/v1/topics/${topic}/partitions/0/records?${query}`;

describe('stored bombs: reads stay bounded and never wedge a consumer', () => {
  it('answers a JSON fetch of an entry of 40 stored 64 MiB bombs with 413 naming the binary form, which returns them whole', async () => {
    await createTopic('stored-fetch');
    const bomb = await bombBatch('zstd', 64 * MIB - 64);
    await storeBatches(stack, 'stored-fetch', 0, Array.from({ length: 40 }, () => bomb));
    const report = await underAttack(stack, () => send(records('stored-fetch', 'offset=0&maxBytes=4194304&maxRecords=10000')));
    expectContained(report, 413, ['MESSAGE_TOO_LARGE'], { ms: 5_000, rssBytes: 768 * MIB });
    expect(report.answer.message).toContain(`Accept: ${BATCHES_MEDIA_TYPE}`);
    const binary = await send(records('stored-fetch', 'offset=0&maxBytes=4194304'), { headers: { accept: BATCHES_MEDIA_TYPE } });
    expect(binary.status).toBe(200);
    expect(decodeFrames(binary.body).length).toBe(40);
    expect(binary.headers.get('x-sluice-next-offset')).toBe('40');
  });

  it('decodes only the records a JSON fetch renders from a stored 9.6 M-record batch', async () => {
    await createTopic('stored-count');
    const count = Math.floor((64 * MIB - 64) / 7);
    const one = zeroRecord(0);
    const payload = Buffer.alloc(one.length * count);
    for (let at = 0; at < payload.length; at += one.length) one.copy(payload, at);
    // Every offset delta is 0, a lie a walk past record 0 would meet; stored before produce checked it.
    const batch = rawBatch({ compression: 'zstd', recordCount: count, lastOffsetDelta: count - 1, records: await compress('zstd', payload) });
    await storeBatches(stack, 'stored-count', 0, [batch]);
    const report = await underAttack(stack, () => send(records('stored-count', 'offset=0&maxRecords=500')));
    expect(report.answer.status, report.answer.message).toBe(200);
    expect((JSON.parse(report.answer.body.toString('utf8')) as { records: unknown[] }).records.length).toBe(500);
    expect(report.stateAfter).toBe(report.stateBefore);
    expect(report.elapsedMs).toBeLessThan(5_000);
    expect(report.peakRssGrowthBytes).toBeLessThan(384 * MIB);
    expect(report.healthAnswers).toBeGreaterThan(0);
    expect(report.slowestHealthMs).toBeLessThan(2_000);
  });

  it('answers ListOffsets over an entry of 40 stored bombs with lying maxTimestamps within seconds, not after decoding all', async () => {
    await createTopic('stored-offsets');
    const bomb = await bombBatch('zstd', 64 * MIB - 64, { baseTimestamp: 1, maxTimestamp: 9_000_000_000_000 });
    await storeBatches(stack, 'stored-offsets', 0, Array.from({ length: 40 }, () => bomb));
    const report = await underAttack(stack, () => send(`${stack.url}/v1/topics/stored-offsets/partitions/0/offsets?timestamp=1000`));
    expectContained(report, 413, ['MESSAGE_TOO_LARGE'], { ms: 5_000, rssBytes: 768 * MIB });
  });

  it('keeps a key-compaction visit over 6 entries of stored bombs (768 MiB inflated) within its decode budget', async () => {
    await createTopic('stored-compact', { 'cleanup.policy': 'compact' });
    const bomb = await bombBatch('zstd', 64 * MIB - 64);
    for (let i = 0; i < 6; i++) await storeBatches(stack, 'stored-compact', 0, [bomb, bomb]);
    await api(stack.url, 'POST', '/v1/topics/stored-compact/records', { records: [{ key: 'newest', value: 'v' }] });
    const indexBefore = JSON.parse(await snapshot(stack)) as { keys: string[] };
    const report = await underAttack(stack, async () => {
      const visit = await compactTopicPartition(stack.storage, 'stored-compact', 0);
      return { ...visit, status: visit.ran ? 200 : 409, error: 'NONE', message: '', bytes: 0, headers: new Headers(), body: Buffer.alloc(0) };
    });
    expect(report.answer.status).toBe(200);
    expect(report.answer.compactedSegments).toBe(0);
    // Only the head's compaction stamp may change: no object is written or removed.
    expect((JSON.parse(report.stateAfter) as { keys: string[] }).keys).toEqual(indexBefore.keys);
    expect(report.elapsedMs).toBeLessThan(10_000);
    expect(report.peakRssGrowthBytes).toBeLessThan(384 * MIB);
    expect(report.healthAnswers).toBeGreaterThan(0);
    expect(report.slowestHealthMs).toBeLessThan(2_000);
  });
});

describe("JSON fetch: maxBytes bounds the rendered response (issue 17 item 4, issue 9 defect 7)", () => {
  it('answers a 65 KB gzip batch holding a 64 MiB record with 413 even at maxBytes=1, and the binary form returns it', async () => {
    await createTopic('huge-record');
    const batch = await encodeRecordBatch([{ key: Buffer.from('k'), value: Buffer.alloc(64 * MIB - 64, 'a'), headers: [], timestamp: 1 }], { compression: 'gzip' });
    expect(batch.length).toBeLessThan(128 * 1024);
    await produceBatch('huge-record', batch);
    const report = await underAttack(stack, () => send(records('huge-record', 'offset=0&maxBytes=1')));
    expectContained(report, 413, ['MESSAGE_TOO_LARGE'], { ms: 5_000, rssBytes: 768 * MIB });
    expect(report.answer.bytes).toBeLessThan(4096);
    expect(report.answer.message).toContain(`Accept: ${BATCHES_MEDIA_TYPE}`);
    const binary = await send(records('huge-record', 'offset=0&maxBytes=1'), { headers: { accept: BATCHES_MEDIA_TYPE } });
    expect(binary.status).toBe(200);
    expect(binary.headers.get('x-sluice-next-offset')).toBe('1');
  });

  it('names encoding=base64 for a 2 MiB value of control bytes (12 MiB as a JSON string), and that fetch moves the consumer on', async () => {
    await createTopic('control-bytes');
    await produceBatch('control-bytes', await encodeRecordBatch([{ key: null, value: Buffer.alloc(2 * MIB, 1), headers: [], timestamp: 1 }]));
    await api(stack.url, 'POST', '/v1/topics/control-bytes/records', { records: [{ value: 'after' }] });
    const report = await underAttack(stack, () => send(records('control-bytes', 'offset=0')));
    expectContained(report, 413, ['MESSAGE_TOO_LARGE'], { ms: 5_000, rssBytes: 512 * MIB });
    expect(report.answer.message).toMatch(/offset 0.*encoding=base64/);
    const advised = await api(stack.url, 'GET', '/v1/topics/control-bytes/partitions/0/records?offset=0&encoding=base64');
    expect(advised.status).toBe(200);
    expect(advised.body.records[0].value).toBe(Buffer.alloc(2 * MIB, 1).toString('base64'));
    const next = await api(stack.url, 'GET', `/v1/topics/control-bytes/partitions/0/records?offset=${advised.body.nextOffset}`);
    expect(next.body.records.map((r: { value: string }) => r.value)).toEqual(['after']);
  });

  it('keeps the rendered JSON of 20 records of 100 KB within maxBytes=300000, returning at least one', async () => {
    await createTopic('rendered-size');
    const value = 'x'.repeat(100_000);
    await api(stack.url, 'POST', '/v1/topics/rendered-size/records', { records: Array.from({ length: 20 }, () => ({ value })) });
    const res = await send(records('rendered-size', 'offset=0&maxBytes=300000'));
    expect(res.status).toBe(200);
    expect(res.bytes).toBeLessThanOrEqual(300_000);
    const body = JSON.parse(res.body.toString('utf8')) as { records: unknown[]; nextOffset: number };
    expect(body.records.length).toBeGreaterThanOrEqual(1);
    expect(body.nextOffset).toBe(body.records.length);
  });

  it(`never answers a JSON fetch over ${LIMITS.lambdaPayloadBytes} bytes once Lambda escapes the body, even with quote-heavy values`, async () => {
    await createTopic('quotes');
    const value = '"'.repeat(900_000);
    for (let i = 0; i < 4; i++) await api(stack.url, 'POST', '/v1/topics/quotes/records', { records: [{ value }] });
    const res = await send(records('quotes', 'offset=0&maxBytes=4194304&maxRecords=10000'));
    expect(res.status).toBe(200);
    expect(Buffer.byteLength(JSON.stringify(res.body.toString('utf8')))).toBeLessThan(LIMITS.lambdaPayloadBytes);
  });
});
