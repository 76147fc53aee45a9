import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { BATCHES_MEDIA_TYPE, decodeFrames, encodeFrames } from '../../lib/codec/framing.ts';
import { decodeRecordBatch, encodeRecordBatch, readBatchHeader } from '../../lib/codec/record-batch.ts';
import { partitionForKey } from '../../lib/log/partitioner.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
  await api(stack.url, 'POST', '/v1/topics', { name: 'events', partitions: 4 });
});
afterAll(async () => {
  await stack?.close();
});

async function fetchAll(topic: string, partition: number, encoding = 'string'): Promise<any[]> {
  const records: any[] = [];
  let offset = 0;
  for (;;) {
    const res = await api(stack.url, 'GET', `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&encoding=${encoding}&maxRecords=10000`);
    expect(res.status).toBe(200);
    records.push(...res.body.records);
    if (res.body.nextOffset >= res.body.highWatermark) return records;
    offset = res.body.nextOffset;
  }
}

describe('produce and fetch (JSON)', () => {
  it('round trips keys, values, headers, timestamps and tombstones', async () => {
    const produced = await api(stack.url, 'POST', '/v1/topics/events/records', {
      records: [
        { key: 'user-1', value: 'deposit(100)', headers: { source: 'atm', trace: null }, timestamp: 1_700_000_000_000 },
        { key: 'user-1', value: 'withdraw(50)' },
        { key: 'user-1', value: null },
      ],
    });
    expect(produced.status).toBe(200);
    const partition = partitionForKey(Buffer.from('user-1'), 4);
    expect(produced.body.offsets.map((o: any) => o.partition)).toEqual([partition, partition, partition]);
    const [first, second, third] = produced.body.offsets.map((o: any) => o.offset);
    expect([second - first, third - first]).toEqual([1, 2]);

    const fetched = await api(stack.url, 'GET', `/v1/topics/events/partitions/${partition}/records?offset=${first}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body.records).toHaveLength(3);
    expect(fetched.body.records[0]).toEqual({ offset: first, timestamp: 1_700_000_000_000, key: 'user-1', value: 'deposit(100)', headers: { source: 'atm', trace: null } });
    expect(fetched.body.records[1]).toMatchObject({ offset: first + 1, value: 'withdraw(50)' });
    expect(fetched.body.records[2]).toMatchObject({ offset: first + 2, key: 'user-1', value: null });
    expect(fetched.body.nextOffset).toBe(first + 3);
  });

  it('stores json values as their serialized text and base64 values as bytes', async () => {
    const res = await api(stack.url, 'POST', '/v1/topics/events/records', {
      keyEncoding: 'base64',
      valueEncoding: 'json',
      records: [{ key: Buffer.from([0, 255, 1]).toString('base64'), value: { amount: 5, tags: ['a'] }, partition: 2 }],
    });
    expect(res.status).toBe(200);
    const { offset } = res.body.offsets[0];
    const asJson = await api(stack.url, 'GET', `/v1/topics/events/partitions/2/records?offset=${offset}&encoding=json&keyEncoding=base64&maxRecords=1`);
    expect(asJson.body.records[0].value).toEqual({ amount: 5, tags: ['a'] });
    const asBase64 = await api(stack.url, 'GET', `/v1/topics/events/partitions/2/records?offset=${offset}&encoding=base64&maxRecords=1`);
    expect(Buffer.from(asBase64.body.records[0].key, 'base64')).toEqual(Buffer.from([0, 255, 1]));
    expect(Buffer.from(asBase64.body.records[0].value, 'base64').toString()).toBe('{"amount":5,"tags":["a"]}');
  });

  it('sends keyless records of one request to one partition (sticky)', async () => {
    const res = await api(stack.url, 'POST', '/v1/topics/events/records', { records: Array.from({ length: 20 }, (_, i) => ({ value: `v${i}` })) });
    const partitions = new Set(res.body.offsets.map((o: any) => o.partition));
    expect(partitions.size).toBe(1);
  });

  it('returns offsets in request order across partitions', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const res = await api(stack.url, 'POST', '/v1/topics/events/records', { records: keys.map((k) => ({ key: k, value: k })) });
    expect(res.status).toBe(200);
    for (const [i, k] of keys.entries()) {
      const { partition, offset } = res.body.offsets[i];
      expect(partition).toBe(partitionForKey(Buffer.from(k), 4));
      const one = await api(stack.url, 'GET', `/v1/topics/events/partitions/${partition}/records?offset=${offset}&maxRecords=1`);
      expect(one.body.records[0]).toMatchObject({ offset, key: k, value: k });
    }
  });

  it('gives OFFSET_OUT_OF_RANGE with both bounds past the high watermark', async () => {
    const res = await api(stack.url, 'GET', '/v1/topics/events/partitions/3/records?offset=999999');
    expect(res.status).toBe(416);
    expect(res.body).toMatchObject({ error: 'OFFSET_OUT_OF_RANGE', logStartOffset: 0, retriable: false });
    expect(typeof res.body.highWatermark).toBe('number');
  });

  it('rejects an unknown partition with UNKNOWN_TOPIC_OR_PARTITION', async () => {
    const res = await api(stack.url, 'POST', '/v1/topics/events/records', { records: [{ value: 'x', partition: 4 }] });
    expect(res).toMatchObject({ status: 404, body: { error: 'UNKNOWN_TOPIC_OR_PARTITION' } });
  });

  it('rejects a record larger than max.message.bytes with MESSAGE_TOO_LARGE', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'small', partitions: 1, configs: { 'max.message.bytes': '1024' } });
    const res = await api(stack.url, 'POST', '/v1/topics/small/records', { records: [{ value: 'x'.repeat(2000) }] });
    expect(res).toMatchObject({ status: 413, body: { error: 'MESSAGE_TOO_LARGE' } });
    const described = await api(stack.url, 'GET', '/v1/topics/small');
    expect(described.body.partitions[0].highWatermark).toBe(0);
  });

  it('splits a large request into batches within max.message.bytes', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'split', partitions: 1, configs: { 'max.message.bytes': '4096' } });
    const res = await api(stack.url, 'POST', '/v1/topics/split/records', { records: Array.from({ length: 50 }, (_, i) => ({ value: `${i}`.padEnd(500, '.') })) });
    expect(res.status).toBe(200);
    const binary = await fetch(`${stack.url}/v1/topics/split/partitions/0/records?offset=0`, { headers: { accept: BATCHES_MEDIA_TYPE } });
    const frames = decodeFrames(Buffer.from(await binary.arrayBuffer()));
    expect(frames.length).toBeGreaterThan(1);
    for (const f of frames) expect(f.batch.length).toBeLessThanOrEqual(4096);
    expect((await fetchAll('split', 0)).map((r) => Number.parseInt(r.value, 10))).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('stamps LogAppendTime when the topic asks for it', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'appendtime', partitions: 1, configs: { 'message.timestamp.type': 'LogAppendTime' } });
    const before = Date.now();
    const res = await api(stack.url, 'POST', '/v1/topics/appendtime/records', { records: [{ value: 'a', timestamp: 1 }] });
    expect(res.body.logAppendTime).toBeGreaterThanOrEqual(before);
    const fetched = await api(stack.url, 'GET', '/v1/topics/appendtime/partitions/0/records?offset=0');
    expect(fetched.body.records[0].timestamp).toBe(res.body.logAppendTime);
  });
});

describe('offsets by time (ListOffsets)', () => {
  it('finds the first offset at or after a timestamp, and the earliest and latest offsets', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'timed', partitions: 1 });
    await api(stack.url, 'POST', '/v1/topics/timed/records', { records: [{ value: 'a', timestamp: 1000 }, { value: 'b', timestamp: 2000 }] });
    await api(stack.url, 'POST', '/v1/topics/timed/records', { records: [{ value: 'c', timestamp: 3000 }, { value: 'd', timestamp: 4000 }] });
    const at = async (spec: string) => (await api(stack.url, 'GET', `/v1/topics/timed/partitions/0/offsets?timestamp=${spec}`)).body;
    expect(await at('0')).toEqual({ offset: 0, timestamp: 1000, logStartOffset: 0, highWatermark: 4 });
    expect(await at('2000')).toMatchObject({ offset: 1, timestamp: 2000 });
    expect(await at('2500')).toMatchObject({ offset: 2, timestamp: 3000 });
    expect(await at('4001')).toMatchObject({ offset: 4, timestamp: null });
    expect(await at('earliest')).toMatchObject({ offset: 0, timestamp: null });
    expect(await at('latest')).toMatchObject({ offset: 4, timestamp: null });
    expect((await api(stack.url, 'GET', '/v1/topics/timed/partitions/0/offsets?timestamp=-5')).status).toBe(400);
  });
});

describe('produce and fetch (binary RecordBatch framing)', () => {
  it('stores batches byte for byte and returns them with their base offsets filled in', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'binary', partitions: 2 });
    const records = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ key: Buffer.from(`${tag}${i}`), value: Buffer.from(`value-${tag}-${i}`), headers: [{ key: 'h', value: Buffer.from('1') }], timestamp: 1_700_000_000_000 + i }));
    const gzip = await encodeRecordBatch(records(10, 'a'), { compression: 'gzip' });
    const plain = await encodeRecordBatch(records(5, 'b'));
    const more = await encodeRecordBatch(records(3, 'c'), { compression: 'gzip' });
    const body = encodeFrames([{ partition: 1, batch: gzip }, { partition: 0, batch: plain }, { partition: 1, batch: more }]);
    const produced = await fetch(`${stack.url}/v1/topics/binary/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body });
    expect(produced.status).toBe(200);
    const result = (await produced.json()) as { batches: Array<{ partition: number; baseOffset: number; lastOffset: number }> };
    expect(result.batches).toEqual([
      { partition: 1, baseOffset: 0, lastOffset: 9 },
      { partition: 0, baseOffset: 0, lastOffset: 4 },
      { partition: 1, baseOffset: 10, lastOffset: 12 },
    ]);

    const fetched = await fetch(`${stack.url}/v1/topics/binary/partitions/1/records?offset=0`, { headers: { accept: BATCHES_MEDIA_TYPE } });
    expect(fetched.headers.get('content-type')).toBe(BATCHES_MEDIA_TYPE);
    expect(fetched.headers.get('x-sluice-next-offset')).toBe('13');
    const frames = decodeFrames(Buffer.from(await fetched.arrayBuffer()));
    expect(frames.map((f) => f.partition)).toEqual([1, 1]);
    // Identical bytes but for the 8-byte base offset, which sits outside the CRC.
    expect(frames[0]!.batch.subarray(8)).toEqual(gzip.subarray(8));
    expect(frames[1]!.batch.subarray(8)).toEqual(more.subarray(8));
    expect(readBatchHeader(frames[1]!.batch).baseOffset).toBe(10);
    const decoded = await decodeRecordBatch(frames[1]!.batch);
    expect(decoded.records.map((r) => [r.offset, r.key?.toString()])).toEqual([[10, 'c0'], [11, 'c1'], [12, 'c2']]);

    // The JSON view of the same partition reads through compressed batches.
    const json = await api(stack.url, 'GET', '/v1/topics/binary/partitions/1/records?offset=8&maxRecords=3');
    expect(json.body.records.map((r: any) => r.value)).toEqual(['value-a-8', 'value-a-9', 'value-c-0']);
    expect(json.body.nextOffset).toBe(11);
  });

  it('rejects a batch whose CRC does not match with CORRUPT_MESSAGE and writes nothing', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'crc', partitions: 1 });
    const batch = await encodeRecordBatch([{ key: null, value: Buffer.from('hello'), headers: [], timestamp: 1 }]);
    batch[batch.length - 1]! ^= 0xff;
    const res = await fetch(`${stack.url}/v1/topics/crc/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body: encodeFrames([{ partition: 0, batch }]) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('CORRUPT_MESSAGE');
    expect((await api(stack.url, 'GET', '/v1/topics/crc')).body.partitions[0].highWatermark).toBe(0);
  });
});

describe("Lambda's 6 MB response limit", () => {
  it('keeps every fetch response under 6 MB as Lambda returns it, whatever the parameters', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'bulky', partitions: 1, configs: { 'max.message.bytes': 4 * 1024 * 1024 } });
    const big = Buffer.alloc(1024 * 1024 - 200, 'x');
    for (let i = 0; i < 5; i++) {
      const batch = await encodeRecordBatch([{ key: Buffer.from(`k${i}`), value: big, headers: [], timestamp: 1 }]);
      const res = await fetch(`${stack.url}/v1/topics/bulky/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body: encodeFrames([{ partition: 0, batch }]) });
      expect(res.status).toBe(200);
    }
    const LAMBDA_LIMIT = 6 * 1024 * 1024;
    const binary = await fetch(`${stack.url}/v1/topics/bulky/partitions/0/records?offset=0&maxBytes=4194304`, { headers: { accept: BATCHES_MEDIA_TYPE } });
    const raw = Buffer.from(await binary.arrayBuffer());
    // API Gateway carries binary bodies base64-encoded in the Lambda response.
    expect(Math.ceil(raw.length / 3) * 4).toBeLessThan(LAMBDA_LIMIT);
    expect(decodeFrames(raw).length).toBeGreaterThanOrEqual(3);
    for (const encoding of ['string', 'base64']) {
      const res = await fetch(`${stack.url}/v1/topics/bulky/partitions/0/records?offset=0&maxBytes=4194304&maxRecords=10000&encoding=${encoding}`);
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(Buffer.byteLength(text), encoding).toBeLessThan(LAMBDA_LIMIT);
      expect((JSON.parse(text) as { records: unknown[] }).records.length).toBeGreaterThanOrEqual(1);
    }
  });
});
