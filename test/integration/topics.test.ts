import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('topics API', () => {
  it('answers health once storage answers', async () => {
    const res = await api(stack.url, 'GET', '/v1/health');
    expect(res).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it("creates a topic with Kafka's defaults for configs not given", async () => {
    const res = await api(stack.url, 'POST', '/v1/topics', { name: 'orders', partitions: 3, configs: { 'retention.ms': '3600000' } });
    expect(res.status).toBe(201);
    expect(res.body.name).toBe('orders');
    expect(res.body.partitions).toHaveLength(3);
    expect(res.body.configs).toEqual({
      'retention.ms': '3600000',
      'retention.bytes': '-1',
      'max.message.bytes': '1048588',
      'cleanup.policy': 'delete',
      'message.timestamp.type': 'CreateTime',
      'delete.retention.ms': '86400000',
      'min.compaction.lag.ms': '0',
      'sluice.backpressure.max.lag.records': '-1',
    });
  });

  it('rejects a second topic of the same name with TOPIC_ALREADY_EXISTS', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'dup', partitions: 1 });
    const res = await api(stack.url, 'POST', '/v1/topics', { name: 'dup', partitions: 1 });
    expect(res).toMatchObject({ status: 409, body: { error: 'TOPIC_ALREADY_EXISTS', retriable: false } });
  });

  it.each([
    ['.', 'INVALID_TOPIC_EXCEPTION'],
    ['..', 'INVALID_TOPIC_EXCEPTION'],
    ['a'.repeat(250), 'INVALID_TOPIC_EXCEPTION'],
    ['has space', 'INVALID_TOPIC_EXCEPTION'],
    ['', 'INVALID_TOPIC_EXCEPTION'],
  ])('rejects the topic name %j with %s', async (name, error) => {
    const res = await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1 });
    expect(res).toMatchObject({ status: 400, body: { error } });
  });

  it('accepts the longest legal name (249 characters)', async () => {
    const res = await api(stack.url, 'POST', '/v1/topics', { name: 'n'.repeat(249), partitions: 1 });
    expect(res.status).toBe(201);
  });

  it.each([0, 1001, 1.5, '3', -1])('rejects %j partitions with INVALID_PARTITIONS', async (partitions) => {
    const res = await api(stack.url, 'POST', '/v1/topics', { name: 'bad-partitions', partitions });
    expect(res).toMatchObject({ status: 400, body: { error: 'INVALID_PARTITIONS' } });
  });

  it.each([
    [{ 'retention.ms': 'soon' }],
    [{ 'cleanup.policy': 'forever' }],
    [{ 'max.message.bytes': '99999999999' }],
    [{ 'unknown.config': '1' }],
    [{ 'message.timestamp.type': 'WallClock' }],
  ])('rejects configs %j with INVALID_CONFIG', async (configs) => {
    const res = await api(stack.url, 'POST', '/v1/topics', { name: 'bad-config', partitions: 1, configs });
    expect(res).toMatchObject({ status: 400, body: { error: 'INVALID_CONFIG' } });
  });

  it('lists topics with their partition counts', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'listed', partitions: 2 });
    const res = await api(stack.url, 'GET', '/v1/topics');
    expect(res.status).toBe(200);
    expect(res.body.topics).toContainEqual({ name: 'listed', partitions: 2 });
  });

  it('describes every partition with offsets, bytes and segments', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'described', partitions: 2 });
    const res = await api(stack.url, 'GET', '/v1/topics/described');
    expect(res.status).toBe(200);
    expect(res.body.partitions).toEqual([
      { partition: 0, logStartOffset: 0, highWatermark: 0, bytes: 0, segments: 0, lastCompactedAt: null, produceRate: { recordsPerSecond: 0, bytesPerSecond: 0, windowMs: expect.any(Number) } },
      { partition: 1, logStartOffset: 0, highWatermark: 0, bytes: 0, segments: 0, lastCompactedAt: null, produceRate: { recordsPerSecond: 0, bytesPerSecond: 0, windowMs: expect.any(Number) } },
    ]);
  });

  it('raises the partition count and changes configs, but never lowers the count', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'grows', partitions: 2 });
    const raised = await api(stack.url, 'PATCH', '/v1/topics/grows', { partitions: 5, configs: { 'cleanup.policy': 'compact' } });
    expect(raised.status).toBe(200);
    expect(raised.body.partitions).toHaveLength(5);
    expect(raised.body.configs['cleanup.policy']).toBe('compact');
    const lowered = await api(stack.url, 'PATCH', '/v1/topics/grows', { partitions: 3 });
    expect(lowered).toMatchObject({ status: 400, body: { error: 'INVALID_PARTITIONS' } });
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION for a missing topic on every topic route', async () => {
    for (const [method, path] of [
      ['GET', '/v1/topics/missing'],
      ['DELETE', '/v1/topics/missing'],
      ['GET', '/v1/topics/missing/partitions/0/records?offset=0'],
    ] as const) {
      const res = await api(stack.url, method, path);
      expect(res, `${method} ${path}`).toMatchObject({ status: 404, body: { error: 'UNKNOWN_TOPIC_OR_PARTITION' } });
    }
    const patch = await api(stack.url, 'PATCH', '/v1/topics/missing', { partitions: 2 });
    expect(patch).toMatchObject({ status: 404, body: { error: 'UNKNOWN_TOPIC_OR_PARTITION' } });
  });

  it('deletes a topic with its data so the name can be created again, empty', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'reborn', partitions: 1 });
    await api(stack.url, 'POST', '/v1/topics/reborn/records', { records: [{ value: 'old' }, { value: 'older' }] });
    expect((await api(stack.url, 'DELETE', '/v1/topics/reborn')).status).toBe(204);
    expect((await api(stack.url, 'GET', '/v1/topics/reborn')).status).toBe(404);
    expect((await api(stack.url, 'POST', '/v1/topics', { name: 'reborn', partitions: 1 })).status).toBe(201);
    const fetched = await api(stack.url, 'GET', '/v1/topics/reborn/partitions/0/records?offset=0');
    expect(fetched.body).toMatchObject({ records: [], highWatermark: 0, logStartOffset: 0 });
  });
});
