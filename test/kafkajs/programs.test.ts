/**
 * Ordinary kafkajs programs (test/kafkajs/programs/) run against the local stack with one
 * change: 'kafkajs' resolves to sluice/kafkajs. The programs import 'kafkajs' itself, so
 * `tsc --noEmit` checks them against kafkajs's own types/index.d.ts.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { partitionForKey, Sluice } from '../../lib/client/index.ts';
import { startTestStack } from '../support/stack.ts';
import { createTopic } from '../client/helpers.ts';
import { adminProgram } from './programs/admin.ts';
import { consumerProgram } from './programs/consumer.ts';
import { eachBatchProgram } from './programs/each-batch.ts';
import { producerProgram } from './programs/producer.ts';

vi.mock('kafkajs', async () => await import('../../lib/kafkajs/index.ts'));

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('kafkajs programs on sluice/kafkajs', () => {
  it('producer: send and sendBatch answer RecordMetadata per partition, keys placed by murmur2, then a group consumer reads them all with events', async () => {
    // Prepare
    await createTopic(stack.url, 'kjs-orders', 4);

    // Act
    const { sent, batched } = await producerProgram([stack.url], 'kjs-orders');
    const consumed = await consumerProgram([stack.url], 'kjs-orders', 'kjs-readers', 4);

    // Assess
    const keyed = partitionForKey(Buffer.from('user-42'), 4);
    expect(sent).toEqual(
      expect.arrayContaining([
        { topicName: 'kjs-orders', partition: keyed, errorCode: 0, offset: '0', baseOffset: '0' },
        { topicName: 'kjs-orders', partition: 1, errorCode: 0, offset: expect.stringMatching(/^\d+$/), baseOffset: expect.stringMatching(/^\d+$/) },
      ]),
    );
    expect(sent).toHaveLength(keyed === 1 ? 1 : 2);
    expect(batched).toEqual([{ topicName: 'kjs-orders', partition: partitionForKey(Buffer.from('user-7'), 4), errorCode: 0, offset: expect.stringMatching(/^\d+$/), baseOffset: expect.stringMatching(/^\d+$/) }]);
    expect(consumed.messages.map((m) => m.value).sort()).toEqual(['Hello KafkaJS user!', 'Hello again', 'batched', 'to partition 1']);
    const again = consumed.messages.find((m) => m.value === 'Hello again');
    expect(again).toMatchObject({ key: 'user-42', partition: keyed, offset: '1' });
    expect(String(again?.headers?.['correlation-id'])).toBe('2bfb68bb-893a-423b-a7fa-7b568cad5b67');
    expect(consumed.events[0]).toMatch(/^consumer\.group_join:kjs-orders$/);
    expect(consumed.events).toContain('consumer.fetch_start');
    expect(consumed.events).toContain('consumer.commit_offsets');
    // The last commit of each partition is past its last record.
    const lastCommitted = new Map(consumed.committed.map((c) => [c.partition, c.offset]));
    for (const m of consumed.messages) expect(Number(lastCommitted.get(m.partition))).toBeGreaterThan(Number(m.offset));
  });

  it('eachBatch: a RegExp subscription, resolveOffset, uncommittedOffsets and commitOffsetsIfNecessary with autoCommit off over 3 partitions', async () => {
    // Prepare
    await createTopic(stack.url, 'kjs-batches', 3);
    const producer = new Sluice({ url: stack.url }).producer();
    await producer.send({ topic: 'kjs-batches', messages: Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, value: `v${i}` })) });
    await producer.disconnect();

    // Act
    const result = await eachBatchProgram([stack.url], 'kjs-batches', 'kjs-batch-group', 30);

    // Assess
    expect(result.values.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `v${i}`).sort());
    for (const b of result.batches.filter((x) => x.count > 0)) expect(b).toMatchObject({ highWatermark: '10', lag: '0', last: '9' });
    expect(result.uncommittedSeen).toBeGreaterThan(0);
    expect(result.description).toEqual({ state: 'Stable', members: 1 });
    const committed = await new Sluice({ url: stack.url }).admin().fetchOffsets('kjs-batch-group');
    expect(committed.map((c) => [c.partition, c.offset]).sort()).toEqual([[0, 10], [1, 10], [2, 10]]);
  });

  it('admin: topics, configs, offsets and groups as kafkajs shapes them, deleteGroups included; describeCluster and transactions say they are not supported', async () => {
    // Act
    const r = await adminProgram([stack.url], 'kjs-admin', 'kjs-admin-group');

    // Assess
    expect(r.created).toBe(true);
    expect(r.createdAgain).toBe(false);
    expect(r.listed).toContain('kjs-admin');
    expect(r.metadata.topics).toEqual([{ name: 'kjs-admin', partitions: [0, 1, 2].map((partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [] })) }]);
    expect(r.offsets).toEqual([0, 1, 2].map((partition) => ({ partition, offset: '2', high: '2', low: '0' })));
    expect(r.byTime).toEqual([0, 1, 2].map((partition) => ({ partition, offset: '2' })));
    const entries = r.configs.resources[0]?.configEntries ?? [];
    expect(entries).toHaveLength(2);
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ configName: 'retention.ms', configValue: '86400000', isDefault: false }),
        expect.objectContaining({ configName: 'cleanup.policy', configValue: 'delete', isDefault: true }),
      ]),
    );
    expect(r.altered.resources[0]?.configEntries).toEqual([expect.objectContaining({ configName: 'retention.ms', configValue: '3600000' })]);
    expect(r.afterDelete[0]).toEqual({ partition: 0, offset: '2', high: '2', low: '1' });
    const offsetsOf = (fetched: typeof r.reset) => fetched.map((t) => [t.topic, t.partitions.map((p) => [p.partition, p.offset])]);
    expect(offsetsOf(r.reset)).toEqual([['kjs-admin', [[0, '1'], [1, '0'], [2, '0']]]]);
    expect(offsetsOf(r.set)).toEqual([['kjs-admin', [[0, '1'], [1, '1'], [2, '1']]]]);
    expect(r.groups.groups).toContainEqual({ groupId: 'kjs-admin-group', protocolType: 'consumer' });
    expect(r.described.groups).toEqual([expect.objectContaining({ groupId: 'kjs-admin-group', state: 'Empty', members: [] })]);
    expect(r.deletedGroups).toEqual([{ groupId: 'kjs-admin-group', errorCode: 0 }]);
    expect(r.groupsAfterDelete.groups).not.toContainEqual(expect.objectContaining({ groupId: 'kjs-admin-group' }));
    expect(r.deleteUnknown).toBe('KafkaJSDeleteGroupsError: kjs-admin-group-never-seen GROUP_ID_NOT_FOUND');
    expect(r.unsupported).toEqual([
      expect.stringMatching(/^KafkaJSNonRetriableError: admin\.describeCluster\(\) is not supported by Sluice: /),
      expect.stringMatching(/^KafkaJSNonRetriableError: transactionalId is not supported by Sluice: /),
    ]);
    expect(r.afterDeleteTopics).not.toContain('kjs-admin');
  });
});
