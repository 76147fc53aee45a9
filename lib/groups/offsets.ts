import { GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { SluiceError } from '../errors.ts';
import { lookupOffset, type OffsetSpec } from '../log/offsets.ts';
import { checkPartition } from '../log/topics.ts';
import { readPartitionState } from '../log/read.ts';
import type { TopicItem } from '../storage/schema.ts';
import type { Storage } from '../storage/clients.ts';
import { cancellationReasons } from '../storage/conditions.ts';
import { tpKey } from './assignors.ts';
import { GROUPS_PK, groupPk, memberSk, META_SK, offsetSk, offsetsPk, registrySk, type CommittedOffsetItem, type MemberItem } from './schema.ts';
import { readGroup } from './store.ts';
import { cachedTopic } from './topic-partitions.ts';

export interface OffsetCommit {
  topic: string;
  partition: number;
  offset: number;
  metadata?: string;
}

export interface CommitRequest {
  memberId?: string;
  memberEpoch?: number;
  offsets: OffsetCommit[];
}

/** A DynamoDB transaction holds 100 items: one check plus up to 99 offsets. */
const OFFSETS_PER_COMMIT = 99;

async function checkTopics(storage: Storage, offsets: readonly OffsetCommit[]): Promise<void> {
  for (const o of offsets) {
    const topic = await cachedTopic(storage, o.topic);
    if (topic === undefined) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(o.topic)} does not exist`);
    checkPartition(topic, o.partition);
  }
}

function offsetItem(group: string, o: OffsetCommit, nowMs: number): CommittedOffsetItem {
  return { pk: offsetsPk(group), sk: offsetSk(o.topic, o.partition), topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? '', committedAtMs: nowMs };
}

/**
 * Commits offsets. A member's commit is one transaction whose condition is that the member
 * is at `memberEpoch` and owns every partition committed (assigned, or being revoked and
 * not yet reported released): a fenced or stale member, or one committing a partition it
 * does not own, changes nothing (STALE_MEMBER_EPOCH).
 * Without a member, the commit is accepted only while the group has no live members (as in
 * Kafka), conditional on the group's version so a join cannot slip in between.
 */
export async function commitOffsets(storage: Storage, group: string, request: CommitRequest, nowMs = Date.now()): Promise<void> {
  if (request.offsets.length > OFFSETS_PER_COMMIT) throw new SluiceError('INVALID_REQUEST', `At most ${OFFSETS_PER_COMMIT} offsets per commit, got ${request.offsets.length}`);
  await checkTopics(storage, request.offsets);
  const TableName = storage.env.tableName;
  const puts = request.offsets.map((o) => ({ Put: { TableName, Item: offsetItem(group, o, nowMs) } }));
  if (request.memberId !== undefined) {
    const values: Record<string, unknown> = { ':epoch': request.memberEpoch, ':now': nowMs };
    const owns = request.offsets.map((o, i) => {
      values[`:tp${i}`] = tpKey(o.topic, o.partition);
      // A partition being revoked is still the member's until it reports it released:
      // this is when it commits its last processed offset.
      return `(contains(assigned, :tp${i}) OR contains(owned, :tp${i}))`;
    });
    try {
      await storage.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            { ConditionCheck: { TableName, Key: { pk: groupPk(group), sk: memberSk(request.memberId) }, ConditionExpression: ['memberEpoch = :epoch', 'expiresAtMs >= :now', ...owns].join(' AND '), ExpressionAttributeValues: values } },
            ...puts,
          ],
        }),
      );
    } catch (error) {
      if (cancellationReasons(error) === undefined) throw error;
      throw await explainRejectedCommit(storage, group, request, nowMs);
    }
    return;
  }
  const read = await readGroup(storage, group);
  const live = read.members.filter((m) => m.expiresAtMs >= nowMs);
  if (live.length > 0) {
    throw new SluiceError('UNKNOWN_MEMBER_ID', `Group ${group} has ${live.length} live member(s); only they may commit (send memberId and memberEpoch)`);
  }
  await writeWhileEmpty(storage, group, read.meta?.version, puts);
}

/** Writes `items` conditional on META being unchanged (no member joined since it was read). */
async function writeWhileEmpty(storage: Storage, group: string, version: number | undefined, items: Array<{ Put: { TableName: string; Item: CommittedOffsetItem } }>): Promise<void> {
  const TableName = storage.env.tableName;
  try {
    await storage.ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          version === undefined
            ? { ConditionCheck: { TableName, Key: { pk: groupPk(group), sk: META_SK }, ConditionExpression: 'attribute_not_exists(pk)' } }
            : { ConditionCheck: { TableName, Key: { pk: groupPk(group), sk: META_SK }, ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': version } } },
          { Put: { TableName, Item: { pk: GROUPS_PK, sk: registrySk(group), group } } },
          ...items,
        ],
      }),
    );
  } catch (error) {
    if (cancellationReasons(error) === undefined) throw error;
    throw new SluiceError('NON_EMPTY_GROUP', `Group ${group} changed (a member joined) while committing; retry`);
  }
}

async function explainRejectedCommit(storage: Storage, group: string, request: CommitRequest, nowMs: number): Promise<SluiceError> {
  const result = await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk: groupPk(group), sk: memberSk(request.memberId as string) }, ConsistentRead: true }));
  const member = result.Item as MemberItem | undefined;
  if (member === undefined || member.expiresAtMs < nowMs) return new SluiceError('UNKNOWN_MEMBER_ID', `Member ${request.memberId} is not in group ${group}; its commit is rejected`);
  if (member.memberEpoch !== request.memberEpoch) return new SluiceError('STALE_MEMBER_EPOCH', `Member ${request.memberId} committed at epoch ${request.memberEpoch}, but its epoch is ${member.memberEpoch}`);
  const notOwned = request.offsets.map((o) => tpKey(o.topic, o.partition)).filter((tp) => !member.assigned.includes(tp) && !member.owned.includes(tp));
  return new SluiceError('STALE_MEMBER_EPOCH', `Member ${request.memberId} does not own ${notOwned.join(', ')} at epoch ${member.memberEpoch}`);
}

/** Committed offsets of the group, by topic and partition. */
export async function committedOffsets(storage: Storage, group: string): Promise<CommittedOffsetItem[]> {
  const items: CommittedOffsetItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await storage.ddb.send(new QueryCommand({ TableName: storage.env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': offsetsPk(group) }, ConsistentRead: true, ExclusiveStartKey: startKey }));
    items.push(...((page.Items ?? []) as CommittedOffsetItem[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return items;
}

/** Where a reset moves each partition (kafka-consumer-groups --to-earliest/--to-latest/--to-offset/--to-datetime). */
export type ResetTarget = { to: 'earliest' | 'latest' } | { offset: number } | { timestamp: number };

async function resetOffsetFor(storage: Storage, topic: TopicItem, partition: number, target: ResetTarget): Promise<number> {
  if ('offset' in target) {
    // As kafka-consumer-groups does: an offset outside the log is clamped into it.
    const state = await readPartitionState(storage, topic, partition);
    return Math.min(Math.max(target.offset, state.logStartOffset), state.highWatermark);
  }
  const spec: OffsetSpec = 'to' in target ? target.to : target.timestamp;
  return (await lookupOffset(storage, topic, partition, spec)).offset;
}

/** Kafka's kafka-consumer-groups --reset-offsets: every partition of `topic`, only while the group is empty. */
export async function resetOffsets(storage: Storage, group: string, topicName: string, target: ResetTarget, nowMs = Date.now()): Promise<CommittedOffsetItem[]> {
  const topic = await cachedTopic(storage, topicName);
  if (topic === undefined) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(topicName)} does not exist`);
  const read = await readGroup(storage, group);
  const live = read.members.filter((m) => m.expiresAtMs >= nowMs);
  if (live.length > 0) throw new SluiceError('NON_EMPTY_GROUP', `Group ${group} has ${live.length} live member(s); offsets can be reset only while it is empty`);
  const offsets = await Promise.all(
    Array.from({ length: topic.partitions }, async (_, partition) => {
      const offset = await resetOffsetFor(storage, topic, partition, target);
      return offsetItem(group, { topic: topicName, partition, offset, metadata: 'reset' }, nowMs);
    }),
  );
  for (let i = 0; i < offsets.length; i += OFFSETS_PER_COMMIT - 1) {
    await writeWhileEmpty(storage, group, read.meta?.version, offsets.slice(i, i + OFFSETS_PER_COMMIT - 1).map((Item) => ({ Put: { TableName: storage.env.tableName, Item } })));
  }
  return offsets;
}

