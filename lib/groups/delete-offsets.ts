/**
 * Kafka's OffsetDelete: removes a group's committed offsets of one topic (all its partitions,
 * or one), refused with GROUP_SUBSCRIBED_TO_TOPIC while a live member subscribes to the topic.
 * Each transaction of deletions is conditional on META's version, so a member that joins or
 * changes its subscription meanwhile makes the next chunk re-check the rule.
 */
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { SluiceError } from '../errors.ts';
import { checkPartition } from '../log/topics.ts';
import type { Storage } from '../storage/clients.ts';
import { cancellationReasons, itemDoesNotExist } from '../storage/conditions.ts';
import type { TopicItem } from '../storage/schema.ts';
import { groupExists } from './delete-group.ts';
import { isExpired } from './offset-retention.ts';
import { OFFSETS_PER_COMMIT, queryAll, type StoredOffsetItem } from './offsets.ts';
import { isLive } from './reconcile.ts';
import { groupPk, META_SK, offsetSk, offsetsPk } from './schema.ts';
import { readGroup, type GroupRead } from './store.ts';
import { cachedTopic } from './topic-partitions.ts';

export interface DeletedOffsets {
  topic: string;
  /** Partitions whose committed offset was removed (those with none are left out). */
  partitions: number[];
}

/** Re-reads after a lost race at most this often; each lost race is a change to META. */
const ATTEMPTS = 5;

function checkNotSubscribed(group: string, topic: string, read: GroupRead, nowMs: number): void {
  const live = read.members.filter((m) => isLive(m, nowMs));
  // META's topics hold every existing topic the live members subscribe to, however named (a regex too).
  const subscribed = live.some((m) => m.subscribedTopics.includes(topic)) || (live.length > 0 && read.meta?.topics.some((t) => t.name === topic) === true);
  if (subscribed) throw new SluiceError('GROUP_SUBSCRIBED_TO_TOPIC', `A live member of group ${group} subscribes to topic ${JSON.stringify(topic)}; its offsets can be deleted only once no member does`);
}

/** Deletes the group's committed offsets of `topicName` (one partition, or all when undefined). */
export async function deleteOffsets(storage: Storage, group: string, topicName: string, partition: number | undefined, clock: () => number = Date.now): Promise<DeletedOffsets> {
  const topic: TopicItem | undefined = await cachedTopic(storage, topicName);
  if (topic === undefined) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(topicName)} does not exist`);
  if (partition !== undefined) checkPartition(topic, partition);
  const TableName = storage.env.tableName;
  const deleted: number[] = [];
  for (let attempt = 1; ; attempt++) {
    const nowMs = clock();
    const read = await readGroup(storage, group);
    if (!(await groupExists(storage, group, read, nowMs))) throw new SluiceError('GROUP_ID_NOT_FOUND', `Group ${JSON.stringify(group)} does not exist`);
    checkNotSubscribed(group, topicName, read, nowMs);
    // Only this incarnation's offsets: those of a deleted topic are invisible already. At most the topic's partition count.
    const prefix = partition === undefined ? `${topic.topicId}#` : offsetSk(topic.topicId, partition);
    const items = (await queryAll(storage, offsetsPk(group), prefix)) as unknown as StoredOffsetItem[];
    const metaCheck =
      read.meta === undefined
        ? { ConditionCheck: { TableName, Key: { pk: groupPk(group), sk: META_SK }, ConditionExpression: itemDoesNotExist } }
        : { ConditionCheck: { TableName, Key: { pk: groupPk(group), sk: META_SK }, ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': read.meta.version } } };
    try {
      for (let i = 0; i < items.length; i += OFFSETS_PER_COMMIT) {
        const chunk = items.slice(i, i + OFFSETS_PER_COMMIT);
        await storage.ddb.send(new TransactWriteCommand({ TransactItems: [metaCheck, ...chunk.map((o) => ({ Delete: { TableName, Key: { pk: o.pk, sk: o.sk } } }))] }));
        deleted.push(...chunk.filter((o) => !isExpired(o, nowMs)).map((o) => o.partition));
      }
      return { topic: topicName, partitions: deleted.sort((a, b) => a - b) };
    } catch (error) {
      // META changed (a join, a subscription change): read again and re-check the rule.
      if (cancellationReasons(error) === undefined) throw error;
      if (attempt >= ATTEMPTS) throw new SluiceError('THROTTLING_QUOTA_EXCEEDED', `Group ${group} kept changing while its offsets were being deleted; retry`, { retryAfterSeconds: 1 });
    }
  }
}
