import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../../local/stack.ts';
import { BATCHES_MEDIA_TYPE, encodeFrames } from '../../lib/codec/framing.ts';
import { encodeRecordBatch } from '../../lib/codec/record-batch.ts';
import { crc32c } from '../../lib/codec/crc32c.ts';
import { isErrorName } from '../../lib/errors.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
let validBatch: Buffer;
/** Mutated compressed batches go here: a mutation can leave a valid batch, which is then stored. */
let codecTopicId: string;
const compressedBatches: Buffer[] = [];

beforeAll(async () => {
  stack = await startTestStack();
  await api(stack.url, 'POST', '/v1/topics', { name: 'fuzz', partitions: 2, configs: { 'max.message.bytes': '2048' } });
  await api(stack.url, 'POST', '/v1/topics/fuzz/records', { records: [{ key: 'k', value: 'seed' }] });
  codecTopicId = (await api(stack.url, 'POST', '/v1/topics', { name: 'fuzz-codec', partitions: 1 })).body.topicId as string;
  validBatch = await encodeRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('v'), headers: [], timestamp: 1 }]);
  const many = Array.from({ length: 20 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`value ${i} `.repeat(10)), headers: [], timestamp: 1 }));
  for (const compression of ['gzip', 'snappy', 'lz4', 'zstd'] as const) compressedBatches.push(await encodeRecordBatch(many, { compression }));
});
afterAll(async () => {
  await stack?.close();
});

/** Everything stored: every table item and every object key. A rejected request changes neither. */
async function snapshot(): Promise<string> {
  const items = await stack.storage.ddb.send(new ScanCommand({ TableName: stack.storage.env.tableName, ConsistentRead: true }));
  const objects = await stack.storage.s3.send(new ListObjectsV2Command({ Bucket: stack.storage.env.bucketName }));
  const rows = (items.Items ?? []).map((i) => JSON.stringify(i)).filter((row) => !row.includes(codecTopicId)).sort();
  const keys = (objects.Contents ?? []).map((o) => o.Key).filter((key) => !key?.startsWith('data/fuzz-codec/')).sort();
  return JSON.stringify({ rows, keys });
}

interface Attempt {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
}

async function send(attempt: Attempt): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${stack.url}${attempt.path}`, { method: attempt.method, headers: attempt.headers, ...(attempt.body === undefined ? {} : { body: attempt.body as NonNullable<RequestInit['body']> }) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // leave as text: the assertion below will fail on it
  }
  return { status: response.status, body };
}

const jsonish = fc.jsonValue({ maxDepth: 3 });
const contentType = fc.constantFrom('application/json', 'text/plain', BATCHES_MEDIA_TYPE, '', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded', 'application/octet-stream');
const topicSegment = fc.oneof(fc.constant('fuzz'), fc.constant('..'), fc.string({ maxLength: 300 }).map(encodeURIComponent), fc.constant('nope'), fc.constant('%E0%A4%A'));
const queryValue = fc.oneof(fc.constant(''), fc.integer({ min: -5, max: 5 }).map(String), fc.string({ maxLength: 12 }).map(encodeURIComponent), fc.constant('1e3'), fc.constant('99999999999999999999'), fc.constant('NaN'));

const badProduceBody = fc.oneof(
  jsonish.map((v) => JSON.stringify(v)),
  // Every record names a partition the topic lacks (or no integer at all), so no variant is valid.
  fc
    .record(
      {
        records: fc.array(fc.record({ key: jsonish, value: jsonish, partition: fc.oneof(fc.integer({ min: -3, max: -1 }), fc.integer({ min: 2, max: 5 }), fc.string()), headers: jsonish, timestamp: jsonish }, { requiredKeys: ['partition'] }), { maxLength: 3 }),
        valueEncoding: fc.oneof(fc.constant('base64'), fc.string()),
        keyEncoding: jsonish,
      },
      { requiredKeys: ['records'] },
    )
    .map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
);

const produceAttempt: fc.Arbitrary<Attempt> = fc.record({
  method: fc.constant('POST'),
  path: topicSegment.map((t) => `/v1/topics/${t}/records`),
  headers: contentType.map((ct): Record<string, string> => (ct === '' ? {} : { 'content-type': ct })),
  body: badProduceBody,
});

/** Framed batches with one corruption each: bad CRC, wrong lengths, bad partition, oversize, garbage. */
/** Compressed batches mutated inside the compressed records, CRC recomputed so decompression and the records are what get tested. */
const codecAttempt: fc.Arbitrary<Attempt> = fc
  .record({ codec: fc.nat({ max: 3 }), position: fc.nat(), xor: fc.integer({ min: 1, max: 255 }), cut: fc.boolean() })
  .map(({ codec, position, xor, cut }) => {
    const original = compressedBatches[codec] as Buffer;
    let batch = Buffer.from(original);
    const at = 61 + (position % (batch.length - 61));
    if (cut) {
      batch = batch.subarray(0, at);
      batch.writeInt32BE(batch.length - 12, 8);
    } else {
      batch[at] = (batch[at] as number) ^ xor;
    }
    batch.writeUInt32BE(crc32c(batch, 21, batch.length), 17);
    return { method: 'POST', path: '/v1/topics/fuzz-codec/records', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body: encodeFrames([{ partition: 0, batch }]) };
  });

/** JSON bodies with hostile shapes: deep nesting and lone surrogates, on every JSON route. */
const hostileJsonAttempt: fc.Arbitrary<Attempt> = fc
  .record({
    path: fc.constantFrom('/v1/topics/fuzz/records', '/v1/topics', '/v1/groups/fuzz-group/offsets', '/v1/groups/fuzz-group/heartbeat'),
    depth: fc.integer({ min: 101, max: 5_000 }),
    surrogate: fc.constantFrom('\\ud800', '\\udfff', '\\ud83d'),
    deep: fc.boolean(),
  })
  .map(({ path, depth, surrogate, deep }) => ({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json' },
    body: deep ? `{"records":[{"value":${'['.repeat(depth)}${']'.repeat(depth)}}],"valueEncoding":"json"}` : `{"records":[{"key":"k${surrogate}","value":"v"}]}`,
  }));

const binaryAttempt: fc.Arbitrary<Attempt> = fc
  .record({ mutation: fc.constantFrom('flip', 'truncate', 'partition', 'garbage', 'length', 'oversize'), position: fc.nat(), garbage: fc.uint8Array({ maxLength: 200 }) })
  .map(({ mutation, position, garbage }) => {
    let body: Buffer;
    switch (mutation) {
      case 'flip': {
        body = encodeFrames([{ partition: 0, batch: validBatch }]);
        const at = 8 + 17 + (position % (validBatch.length - 17));
        body[at] = (body[at] as number) ^ 0x5a;
        break;
      }
      case 'truncate':
        body = encodeFrames([{ partition: 0, batch: validBatch }]).subarray(0, 1 + (position % (validBatch.length + 6)));
        break;
      case 'partition':
        body = encodeFrames([{ partition: [2, -1, 99][position % 3] as number, batch: validBatch }]);
        break;
      case 'length': {
        body = encodeFrames([{ partition: 0, batch: validBatch }]);
        body.writeInt32BE((position % 1000) - 500 === validBatch.length ? 0 : (position % 1000) - 500, 4);
        break;
      }
      case 'oversize':
        body = encodeFrames([{ partition: 0, batch: Buffer.concat([validBatch, Buffer.alloc(4000)]) }]);
        break;
      default:
        body = Buffer.from(garbage);
    }
    return { method: 'POST', path: '/v1/topics/fuzz/records', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body };
  });

const fetchAttempt: fc.Arbitrary<Attempt> = fc
  .record({ topic: topicSegment, partition: fc.oneof(fc.constant('0'), fc.constant('7'), fc.constant('-1'), fc.constant('x'), fc.constant('00001')), offset: queryValue, maxBytes: queryValue, waitMs: fc.oneof(queryValue, fc.constant('20001')), encoding: fc.oneof(fc.constant('json'), fc.string({ maxLength: 5 })) })
  .filter((q) => !(q.topic === 'fuzz' && /^\d$/.test(q.partition) && /^[0-5]$/.test(q.offset) && q.partition === '0'))
  .map((q) => ({ method: 'GET', path: `/v1/topics/${q.topic}/partitions/${q.partition}/records?offset=${q.offset}&maxBytes=${q.maxBytes}&waitMs=${q.waitMs}&encoding=${q.encoding}`, headers: {} }));

const topicAttempt: fc.Arbitrary<Attempt> = fc.oneof(
  fc.record({ method: fc.constant('POST'), path: fc.constant('/v1/topics'), headers: contentType.map((ct) => ({ 'content-type': ct })), body: fc.oneof(jsonish.map((v) => JSON.stringify(v)), fc.record({ name: fc.oneof(fc.string({ maxLength: 260 }), jsonish), partitions: fc.oneof(fc.integer({ min: -2, max: 2000 }), jsonish), configs: jsonish }, { requiredKeys: [] }).map((v) => JSON.stringify(v))) }).filter((a) => {
    // A well-formed create is legal input, not a fuzz case.
    try {
      const parsed = JSON.parse(String(a.body)) as { name?: unknown };
      return !(typeof parsed.name === 'string' && /^[a-zA-Z0-9._-]{1,249}$/.test(parsed.name) && parsed.name !== '.' && parsed.name !== '..' && a.headers['content-type']?.startsWith('application/json'));
    } catch {
      return true;
    }
  }),
  fc.record({ method: fc.constant('PATCH'), path: topicSegment.map((t) => `/v1/topics/${t}`), headers: fc.constant({ 'content-type': 'application/json' }), body: fc.record({ partitions: fc.oneof(fc.integer({ min: -2, max: 1 }), fc.string()), configs: fc.oneof(fc.constant({ 'retention.ms': 'x' }), fc.constant({ nope: '1' }), jsonish) }, { requiredKeys: ['partitions'] }).map((v) => JSON.stringify(v)) }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.tuple(topicSegment, fc.constantFrom('0', '5', 'x', '-1')).map(([t, p]) => `/v1/topics/${t}/partitions/${p}/delete-records`),
    headers: fc.constant({ 'content-type': 'application/json' }),
    // Offsets past the high watermark (1), below -1, or not integers: all invalid.
    body: fc.oneof(fc.integer({ min: 2, max: 1e6 }), fc.integer({ min: -1e6, max: -2 }), fc.double(), fc.string(), jsonish).map((offset) => JSON.stringify({ offset })),
  }),
  fc.record({
    method: fc.constant('GET'),
    path: fc.tuple(topicSegment, fc.constantFrom('0', '9', 'y'), fc.oneof(fc.constant('-1'), fc.constant('soon'), fc.constant(''), fc.string({ maxLength: 8 }).map(encodeURIComponent))).map(([t, p, ts]) => `/v1/topics/${t}/partitions/${p}/offsets?timestamp=${ts}`),
    headers: fc.constant({}),
  }).filter((a) => !/partitions\/0\/offsets\?timestamp=(\d+|earliest|latest)$/.test(a.path)),
  // Group routes: heartbeats from members the group never had, malformed commits and resets.
  fc.record({
    method: fc.constant('POST'),
    path: fc.oneof(fc.constant('fuzz-group'), fc.constant('..'), fc.string({ maxLength: 260 }).map(encodeURIComponent)).map((g) => `/v1/groups/${g}/heartbeat`),
    headers: fc.constant({ 'content-type': 'application/json' }),
    body: fc
      .record(
        {
          memberId: fc.oneof(fc.string({ minLength: 1, maxLength: 10 }), jsonish),
          memberEpoch: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: -100, max: -2 }), fc.string(), fc.double()),
          subscribedTopics: fc.oneof(fc.array(fc.string({ maxLength: 5 })), jsonish),
          ownedPartitions: jsonish,
          assignor: fc.oneof(fc.constant('sticky'), fc.string()),
          sessionTimeoutMs: fc.oneof(fc.integer(), jsonish),
        },
        { requiredKeys: ['memberEpoch'] },
      )
      .map((v) => JSON.stringify(v)),
  }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constantFrom('/v1/groups/fuzz-group/offsets', '/v1/groups/fuzz-group/offsets/reset', '/v1/groups/%00/offsets'),
    headers: fc.constantFrom<Record<string, string>>({ 'content-type': 'application/json' }, { 'content-type': 'text/plain' }),
    body: fc
      .oneof(
        fc.record({ memberId: fc.string({ minLength: 1 }), memberEpoch: fc.integer({ min: 1, max: 9 }), offsets: fc.array(fc.record({ topic: fc.constantFrom('fuzz', 'nope'), partition: fc.integer({ min: 0, max: 5 }), offset: fc.integer({ min: 0, max: 9 }) }), { minLength: 1, maxLength: 3 }) }),
        fc.record({ offsets: fc.oneof(fc.constant([]), jsonish), topic: fc.constantFrom('fuzz', 'nope'), to: fc.string(), offset: fc.integer({ max: -1 }) }, { requiredKeys: [] }),
        jsonish,
      )
      .map((v) => JSON.stringify(v)),
  }),
  fc.record({ method: fc.constantFrom('GET'), path: fc.constantFrom('/v1/groups/never-existed', '/v1/groups/..', '/v1/groups/a%20b/offsets'), headers: fc.constant({}) }),
  fc.record({ method: fc.constantFrom('PUT', 'DELETE', 'GET', 'HEAD'), path: fc.constantFrom('/v1/topics/fuzz/records', '/v2/topics', '/v1/health/x', '/v1/topics/fuzz/partitions/0'), headers: fc.constant({}) }).filter((a) => a.method !== 'HEAD'),
);

describe('every route under malformed input', () => {
  it('answers 400 seeded fuzzed requests with a 4xx and a Kafka-style error name, never a 5xx, and writes nothing', async () => {
    const before = await snapshot();
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(fc.oneof(produceAttempt, binaryAttempt, codecAttempt, hostileJsonAttempt, fetchAttempt, topicAttempt), async (attempt) => {
        const res = await send(attempt);
        // A mutated compressed batch can still be a valid one: then it is simply stored.
        if (res.status === 200 && attempt.path === '/v1/topics/fuzz-codec/records') return;
        expect(res.status, JSON.stringify({ attempt, res })).toBeGreaterThanOrEqual(400);
        expect(res.status, JSON.stringify({ attempt, res })).toBeLessThan(500);
        const body = res.body as { error?: unknown; message?: unknown; retriable?: unknown };
        expect(isErrorName(body.error), JSON.stringify(res.body)).toBe(true);
        expect(typeof body.message).toBe('string');
        expect(typeof body.retriable).toBe('boolean');
      }),
      // Seeded so a CI failure replays exactly; about 10 s here, well inside a minute.
      { numRuns: 400, seed: 17 },
    );
    expect(performance.now() - started).toBeLessThan(60_000);
    expect(await snapshot()).toBe(before);
  });
});
