import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { BATCHES_MEDIA_TYPE, encodeFrames } from '../../lib/codec/framing.ts';
import { encodeRecordBatch } from '../../lib/codec/record-batch.ts';
import { LIMITS } from '../../lib/config/defaults.ts';
import { api, startTestStack } from '../support/stack.ts';
import { expectContained, MIB, send, underAttack } from './attack.ts';

const BODY_TIMEOUT_MS = 1_000;
let stack: LocalStack;

beforeAll(async () => {
  // The local server reads this per request; 30 s (API Gateway's) would make the test slow.
  process.env.SLUICE_LOCAL_BODY_TIMEOUT_MS = String(BODY_TIMEOUT_MS);
  stack = await startTestStack();
  await api(stack.url, 'POST', '/v1/topics', { name: 'edges', partitions: 1 });
  await api(stack.url, 'POST', '/v1/topics/edges/records', { records: [{ key: 'k', value: 'before' }] });
});
afterAll(async () => {
  delete process.env.SLUICE_LOCAL_BODY_TIMEOUT_MS;
  await stack?.close();
});

const nested = (levels: number, inner = '1') => '['.repeat(levels) + inner + ']'.repeat(levels);
const postJson = (path: string, body: string, method = 'POST') => () => send(`${stack.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body });
const limits = { ms: 3_000, rssBytes: 256 * MIB };

describe('JSON nested 4,100 levels deep (an 8 KB body)', () => {
  const deep = nested(4_100);
  it.each([
    ['produce', '/v1/topics/edges/records', `{"records":[{"value":${deep}}],"valueEncoding":"json"}`, 'POST'],
    ['topic create', '/v1/topics', `{"name":"deep","partitions":1,"configs":${deep}}`, 'POST'],
    ['topic alter', '/v1/topics/edges', `{"configs":${deep}}`, 'PATCH'],
    ['group commit', '/v1/groups/g/offsets', `{"offsets":${deep}}`, 'POST'],
  ])('is refused with 400 INVALID_REQUEST at parse time on %s', async (_route, path, body, method) => {
    const report = await underAttack(stack, postJson(path, body, method));
    expectContained(report, 400, ['INVALID_REQUEST'], limits);
    expect(report.answer.message).toMatch(/deeper than 100 levels/);
  });

  it('is rendered safely by a JSON fetch when stored: 400 naming the other encodings, while encoding=string returns it', async () => {
    const value = Buffer.from(nested(4_100));
    await api(stack.url, 'POST', '/v1/topics', { name: 'deep-stored', partitions: 1 });
    const batch = await encodeRecordBatch([{ key: null, value, headers: [], timestamp: 1 }]);
    expect((await send(`${stack.url}/v1/topics/deep-stored/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body: encodeFrames([{ partition: 0, batch }]) })).status).toBe(200);
    const report = await underAttack(stack, () => send(`${stack.url}/v1/topics/deep-stored/partitions/0/records?offset=0&encoding=json`));
    expectContained(report, 400, ['INVALID_REQUEST'], limits);
    expect(report.answer.message).toMatch(/encoding=string or encoding=base64/);
    const asString = await api(stack.url, 'GET', '/v1/topics/deep-stored/partitions/0/records?offset=0');
    expect(asString.body.records[0].value).toBe(value.toString());
  });

  it('still accepts JSON nested 90 levels deep', async () => {
    const res = await api(stack.url, 'POST', '/v1/topics/edges/records', `{"records":[{"value":${nested(90)}}],"valueEncoding":"json"}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });
});

describe('Unicode in string-encoded fields', () => {
  it.each([
    ['a lone surrogate in a value', '{"records":[{"value":"a\\ud800b"}]}', /records\[0\]\.value holds a lone UTF-16 surrogate/],
    ['a lone surrogate in a key', '{"records":[{"key":"\\udc00","value":"v"}]}', /records\[0\]\.key holds a lone/],
    ['a lone surrogate in a header value', '{"records":[{"value":"v","headers":{"h":"\\ud83d"}}]}', /records\[0\]\.headers\["h"\] holds a lone/],
  ])('refuses %s with a 400 naming the field', async (_what, body, message) => {
    const report = await underAttack(stack, postJson('/v1/topics/edges/records', body));
    expectContained(report, 400, ['INVALID_RECORD'], limits);
    expect(report.answer.message).toMatch(message);
  });

  it('keeps a surrogate pair (an emoji) intact', async () => {
    const res = await api(stack.url, 'POST', '/v1/topics', { name: 'emoji', partitions: 1 });
    expect(res.status).toBe(201);
    await api(stack.url, 'POST', '/v1/topics/emoji/records', { records: [{ value: 'a😀b' }] });
    expect((await api(stack.url, 'GET', '/v1/topics/emoji/partitions/0/records?offset=0')).body.records[0].value).toBe('a😀b');
  });
});

describe('request and error sizes', () => {
  it(`refuses a ${LIMITS.maxRequestBytes + 1}-byte binary body with 413, a size whose base64 event still fits Lambda's 6 MB`, async () => {
    const body = Buffer.alloc(LIMITS.maxRequestBytes + 1);
    const report = await underAttack(stack, () => send(`${stack.url}/v1/topics/edges/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body }));
    expectContained(report, 413, ['MESSAGE_TOO_LARGE'], limits);
    // API Gateway base64-encodes the body into the event; headers and the rest need room too.
    expect(Math.ceil((LIMITS.maxRequestBytes + 1) / 3) * 4 + 64 * 1024).toBeLessThan(LIMITS.lambdaPayloadBytes);
  });

  it('answers a 2.9 MB body echoed into an error with an error under 2 KB', async () => {
    // Schema validation names an unknown field, so the field's name is echoed.
    const report = await underAttack(stack, postJson(`/v1/topics/edges/records`, JSON.stringify({ records: [{ value: 'v' }], ['x'.repeat(2_900_000)]: 1 })));
    expectContained(report, 400, ['INVALID_REQUEST'], limits);
    expect(report.answer.bytes).toBeLessThan(2_048);
  });
});

describe('a slow body', () => {
  it(`is answered 400 once the body has not arrived within the deadline (${BODY_TIMEOUT_MS} ms here, 30 s by default)`, async () => {
    const port = new URL(stack.url).port;
    const report = await underAttack(
      stack,
      () =>
        new Promise<Awaited<ReturnType<typeof send>>>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1');
          let reply = '';
          socket.on('data', (chunk) => (reply += chunk.toString('utf8')));
          socket.on('error', reject);
          socket.on('close', () => {
            const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);
            const json = reply.slice(reply.indexOf('\r\n\r\n') + 4);
            const parsed = (json.startsWith('{') ? JSON.parse(json) : {}) as { error?: string; message?: string };
            resolve({ status, error: parsed.error, message: parsed.message ?? '', bytes: json.length, headers: new Headers(), body: Buffer.from(json) });
          });
          // A chunked body that never ends: one chunk, then silence.
          socket.write('POST /v1/topics/edges/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"rec\r\n');
        }),
    );
    expectContained(report, 400, ['INVALID_REQUEST'], { ms: BODY_TIMEOUT_MS + 2_000, rssBytes: limits.rssBytes });
    expect(report.elapsedMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
    expect(report.answer.message).toMatch(/did not arrive within/);
  });
});
