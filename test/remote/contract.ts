/**
 * The HTTP contract every deployment keeps — the local stack, LocalStack, AWS — as one
 * suite of a base URL: health, then a topic's life (create, produce, fetch, describe,
 * list, delete). Topic names are unique per run, so it can run again and again against
 * the same deployment, and a run cleans up after itself.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { RemoteApi } from './remote-api.ts';

export function describeContract(target: string, api: RemoteApi): void {
  const topic = `contract-${Date.now()}-${randomBytes(3).toString('hex')}`;
  let deleted = false;

  describe(`Sluice at ${target}`, () => {
    afterAll(async () => {
      // A failed run must not leave its topic behind.
      if (!deleted) await api('DELETE', `/v1/topics/${topic}`).catch(() => undefined);
    });

    it('answers health', async () => {
      expect(await api('GET', '/v1/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
    });

    it('creates a uniquely named topic with two partitions', async () => {
      const res = await api('POST', '/v1/topics', { name: topic, partitions: 2 });
      expect(res).toMatchObject({ status: 201, body: { name: topic } });
      expect(res.body.partitions).toHaveLength(2);
    });

    it('produces JSON records and answers their offsets, dense per partition', async () => {
      const records = [
        { value: 'first', partition: 0 },
        { key: 'k', value: 'second', partition: 0, headers: { trace: 'abc' } },
        { value: 'elsewhere', partition: 1 },
      ];
      const res = await api('POST', `/v1/topics/${topic}/records`, { records });
      expect(res.status).toBe(200);
      expect(res.body.offsets).toEqual([
        { partition: 0, offset: 0 },
        { partition: 0, offset: 1 },
        { partition: 1, offset: 0 },
      ]);
    });

    it('fetches the records back in order, with keys and headers', async () => {
      const res = await api('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`);
      expect(res.status).toBe(200);
      expect(res.body.records).toMatchObject([
        { offset: 0, key: null, value: 'first' },
        { offset: 1, key: 'k', value: 'second', headers: { trace: 'abc' } },
      ]);
      expect(res.body).toMatchObject({ nextOffset: 2, highWatermark: 2, logStartOffset: 0 });
    });

    it('describes the topic with each partition\u2019s high watermark', async () => {
      const res = await api('GET', `/v1/topics/${topic}`);
      expect(res.status).toBe(200);
      expect(res.body.partitions.map((p: { highWatermark: number }) => p.highWatermark)).toEqual([2, 1]);
    });

    it('lists the topic', async () => {
      const res = await api('GET', '/v1/topics');
      expect(res.status).toBe(200);
      expect(res.body.topics).toContainEqual({ name: topic, partitions: 2 });
    });

    it('deletes the topic, after which it is unknown', async () => {
      expect((await api('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
      deleted = true;
      expect(await api('GET', `/v1/topics/${topic}`)).toMatchObject({ status: 404, body: { error: 'UNKNOWN_TOPIC_OR_PARTITION' } });
    });
  });
}
