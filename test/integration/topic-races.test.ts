import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../../local/stack.ts';
import { readBatchHeader } from '../../lib/codec/record-batch.ts';
import { partitionPk, partitionPrefix } from '../../lib/storage/schema.ts';
import { api, startTestStack } from '../support/stack.ts';
import { batchOf, highWatermarks, objectKeys } from '../support/produce.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

type LogModules = typeof import('../../lib/log/append.ts') & typeof import('../../lib/log/topics.ts') & typeof import('../../lib/log/sequencer.ts');

/** A function instance of its own: fresh module state (the sequencer's known heads), as a separate Lambda has. */
async function instance(): Promise<LogModules> {
  vi.resetModules();
  return { ...(await import('../../lib/log/append.ts')), ...(await import('../../lib/log/topics.ts')), ...(await import('../../lib/log/sequencer.ts')) };
}

async function oneBatch(value: string) {
  const bytes = await batchOf([value]);
  return [{ partition: 0, batches: [{ bytes, header: readBatchHeader(bytes) }] }];
}

describe('a produce racing a topic delete and re-create', () => {
  it.each([
    ['has appended to the old incarnation before (a warm head)', true],
    ['has never seen the partition (an absent head it would create from offset 0)', false],
  ])('is refused, not acknowledged and lost, when the producing instance %s', async (_case, warm) => {
    const name = `reborn-${warm ? 'warm' : 'cold'}`;
    await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1 });
    const producing = await instance();
    const admin = await instance();
    expect(admin.commitSegments).not.toBe(producing.commitSegments);
    const old = await producing.getTopic(stack.storage, name);
    if (warm) await producing.appendBatches(stack.storage, old, await oneBatch('before'));

    // The producing instance read the topic, wrote its object, and is about to commit when
    // another instance deletes the topic and creates it again.
    const outcome = await producing
      .appendBatches(stack.storage, old, await oneBatch('in flight'), {
        afterObjectsWritten: async () => {
          await admin.deleteTopic(stack.storage, name);
          await admin.createTopic(stack.storage, { name, partitions: 1 });
        },
      })
      .then(
        (appended) => ({ acknowledged: appended }),
        (error: unknown) => ({ refused: error }),
      );

    expect(outcome).toMatchObject({ refused: { code: 'UNKNOWN_TOPIC_OR_PARTITION' } });
    const reborn = await admin.getTopic(stack.storage, name);
    expect(reborn.topicId).not.toBe(old.topicId);
    expect(await highWatermarks(stack, name)).toEqual([0]);
    const oldItems = await stack.storage.ddb.send(
      new QueryCommand({ TableName: stack.storage.env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': partitionPk(old.topicId, 0) } }),
    );
    expect(oldItems.Items).toEqual([]);
    expect((await objectKeys(stack, name)).filter((key) => key.startsWith(partitionPrefix(name, 0, old.topicId)))).toEqual([]);
  });
});

describe('altering a topic', () => {
  it('keeps both of two concurrent PATCHes of different configs, 20 of 20 rounds', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'altered', partitions: 1 });
    for (let round = 1; round <= 20; round++) {
      const [a, b] = await Promise.all([
        api(stack.url, 'PATCH', '/v1/topics/altered', { configs: { 'retention.ms': 1000 + round } }),
        api(stack.url, 'PATCH', '/v1/topics/altered', { configs: { 'max.message.bytes': 2000 + round } }),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const configs = (await api(stack.url, 'GET', '/v1/topics/altered')).body.configs;
      expect({ round, retention: configs['retention.ms'], max: configs['max.message.bytes'] }).toEqual({ round, retention: String(1000 + round), max: String(2000 + round) });
    }
  });

  it('keeps a partition increase and a config change made at once', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'grown', partitions: 1 });
    const [a, b] = await Promise.all([
      api(stack.url, 'PATCH', '/v1/topics/grown', { partitions: 3 }),
      api(stack.url, 'PATCH', '/v1/topics/grown', { configs: { 'cleanup.policy': 'compact' } }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const described = (await api(stack.url, 'GET', '/v1/topics/grown')).body;
    expect({ partitions: described.partitions.length, policy: described.configs['cleanup.policy'] }).toEqual({ partitions: 3, policy: 'compact' });
  });

  it('refuses to lower the partition count below one raised meanwhile', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'raced-count', partitions: 1 });
    const results = await Promise.all([api(stack.url, 'PATCH', '/v1/topics/raced-count', { partitions: 4 }), api(stack.url, 'PATCH', '/v1/topics/raced-count', { partitions: 2 })]);
    expect((await api(stack.url, 'GET', '/v1/topics/raced-count')).body.partitions.length).toBe(4);
    // Either the raise to 2 came first (both succeed) or it is refused as a decrease.
    for (const res of results) expect([200, 400]).toContain(res.status);
    if (results[1]?.status === 400) expect(results[1].body.error).toBe('INVALID_PARTITIONS');
  });
});

describe('a long poll across a topic delete', () => {
  it('answers UNKNOWN_TOPIC_OR_PARTITION within about a second, not after the full 15 s wait', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'polled', partitions: 1 });
    const started = Date.now();
    const poll = api(stack.url, 'GET', '/v1/topics/polled/partitions/0/records?offset=0&waitMs=15000');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await api(stack.url, 'DELETE', '/v1/topics/polled')).status).toBe(204);
    const deletedAt = Date.now();
    const res = await poll;
    expect(res).toMatchObject({ status: 404, body: { error: 'UNKNOWN_TOPIC_OR_PARTITION' } });
    expect(Date.now() - deletedAt).toBeLessThan(3000);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
