import { BatchWriteCommand, GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { SluiceError } from '../errors.ts';
import { lookupOffset, type OffsetSpec } from '../log/offsets.ts';
import { checkPartition } from '../log/topics.ts';
import { readPartitionState } from '../log/read.ts';
import type { TopicItem } from '../storage/schema.ts';
import { queryPages } from '../storage/query-pages.ts';
import type { Storage } from '../storage/clients.ts';
import { cancellationReasons, itemDoesNotExist } from '../storage/conditions.ts';
import { TTL_ATTRIBUTE } from '../storage/provision.ts';
import { tpKey } from './assignors.ts';
import { notBeingDeleted } from './delete-hold.ts';
import { DEFAULT_RETENTION, isExpired, offsetExpiresAt, RETENTION_SK, type RetentionOptions } from './offset-retention.ts';
import { isLive } from './reconcile.ts';
import { GROUPS_PK, groupPk, memberSk, META_SK, offsetSk, offsetsPk, registrySk, topicOffsetsPk, type CommittedOffsetItem, type MemberItem } from './schema.ts';
import { memberFromItem, readGroup } from './store.ts';
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
  /**
   * The member's own order of its commits (any increasing number within a member epoch).
   * A commit below the one stored for a partition by the same member and epoch is a late
   * attempt that a newer commit overtook: it is refused, so the committed offset never moves
   * back by accident (a deliberate seek-back commit carries a higher sequence and lands).
   */
  commitSequence?: number;
  offsets: OffsetCommit[];
}

/** A committed offset as stored: who wrote it, in which order, and its TTL (offset-retention.ts). */
export interface StoredOffsetItem extends CommittedOffsetItem {
  memberId?: string;
  memberEpoch?: number;
  commitSequence?: number;
  [TTL_ATTRIBUTE]?: number;
}

/**
 * Offsets per commit. A DynamoDB transaction holds 100 items: a member's commit is one
 * condition check and the offsets; a standalone one, a check of META and the offsets (its
 * registry entry is written before the transaction).
 */
export const OFFSETS_PER_COMMIT = 99;

/** Validates names, partitions and duplicates; returns each offset's topic incarnation. */
async function checkOffsets(storage: Storage, offsets: readonly OffsetCommit[]): Promise<TopicItem[]> {
  if (offsets.length > OFFSETS_PER_COMMIT) throw new SluiceError('INVALID_REQUEST', `At most ${OFFSETS_PER_COMMIT} offsets per commit, got ${offsets.length}`);
  const seen = new Set<string>();
  const topics: TopicItem[] = [];
  for (const o of offsets) {
    const key = tpKey(o.topic, o.partition);
    if (seen.has(key)) throw new SluiceError('INVALID_REQUEST', `Partition ${o.partition} of topic ${JSON.stringify(o.topic)} appears twice in one commit`);
    seen.add(key);
    const topic = await cachedTopic(storage, o.topic);
    if (topic === undefined) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(o.topic)} does not exist`);
    checkPartition(topic, o.partition);
    topics.push(topic);
  }
  return topics;
}

function offsetItem(group: string, topic: TopicItem, o: OffsetCommit, nowMs: number, retention: RetentionOptions): StoredOffsetItem {
  return {
    pk: offsetsPk(group),
    sk: offsetSk(topic.topicId, o.partition),
    topic: o.topic,
    topicId: topic.topicId,
    partition: o.partition,
    offset: o.offset,
    metadata: o.metadata ?? '',
    committedAtMs: nowMs,
    [TTL_ATTRIBUTE]: offsetExpiresAt(nowMs, retention),
  };
}

/**
 * Condition of a sequenced commit's Put: the stored offset is not a newer commit of the same
 * member and epoch. (A comparison with a missing attribute is false in DynamoDB, so items of
 * admin commits and resets, which carry no sequence, pass by the first clause.)
 */
const notOvertaken = 'attribute_not_exists(commitSequence) OR memberId <> :memberId OR memberEpoch <> :memberEpoch OR commitSequence <= :sequence';


/** (topicId, group) pairs this process has already indexed; the index item never changes. */
const indexed = new Set<string>();

/**
 * Records that `group` has offsets of each topic, before they are written, so deleting a
 * topic finds them (deleteTopicOffsets). Idempotent, and one Put per pair per process.
 */
async function indexTopics(storage: Storage, group: string, topics: readonly TopicItem[]): Promise<void> {
  for (const topic of new Map(topics.map((t) => [t.topicId, t])).values()) {
    const key = `${topic.topicId}\n${group}`;
    if (indexed.has(key)) continue;
    await storage.ddb.send(new PutCommand({ TableName: storage.env.tableName, Item: { pk: topicOffsetsPk(topic.topicId), sk: group, group, topic: topic.name } }));
    indexed.add(key);
  }
}

/**
 * Commits offsets. A member's commit is one transaction whose condition is that the member
 * is live at `memberEpoch` with the assignment it was read with, having checked that it
 * owns every partition committed (assigned, or being revoked and not yet reported
 * released): a fenced or stale member, or one committing a partition it does not own,
 * changes nothing. Without a member, the commit is accepted only while the group has no
 * live members (as in Kafka), conditional on the group's version so a join cannot slip in.
 */
export async function commitOffsets(storage: Storage, group: string, request: CommitRequest, clock: () => number = Date.now, retention: RetentionOptions = DEFAULT_RETENTION): Promise<void> {
  const topics = await checkOffsets(storage, request.offsets);
  const TableName = storage.env.tableName;
  const nowMs = clock();
  const items = request.offsets.map((o, i) => offsetItem(group, topics[i] as TopicItem, o, nowMs, retention));
  if (request.memberId === undefined) {
    const puts = items.map((Item) => ({ Put: { TableName, Item } }));
    const read = await readGroup(storage, group);
    const live = read.members.filter((m) => isLive(m, nowMs));
    if (live.length > 0) throw new SluiceError('UNKNOWN_MEMBER_ID', `Group ${group} has ${live.length} live member(s); only they may commit (send memberId and memberEpoch)`);
    await indexTopics(storage, group, topics);
    await writeWhileEmpty(storage, group, read.meta?.version, puts);
    return;
  }
  const sequence = request.commitSequence;
  const memberId = request.memberId;
  const puts = items.map((item) => ({
    Put: {
      TableName,
      Item: { ...item, memberId, memberEpoch: request.memberEpoch, ...(sequence === undefined ? {} : { commitSequence: sequence }) },
      ...(sequence === undefined ? {} : { ConditionExpression: notOvertaken, ExpressionAttributeValues: { ':memberId': memberId, ':memberEpoch': request.memberEpoch, ':sequence': sequence } }),
    },
  }));
  for (let attempt = 0; ; attempt++) {
    const member = await ownerCheck(storage, group, request, clock());
    await indexTopics(storage, group, topics);
    try {
      await storage.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              ConditionCheck: {
                TableName,
                Key: { pk: groupPk(group), sk: memberSk(request.memberId) },
                ConditionExpression: 'memberEpoch = :epoch AND assignmentVersion = :version AND expiresAtMs >= :now AND fenced = :false',
                ExpressionAttributeValues: { ':epoch': member.memberEpoch, ':version': member.assignmentVersion, ':now': clock(), ':false': false },
              },
            },
            ...puts,
          ],
        }),
      );
      return;
    } catch (error) {
      const reasons = cancellationReasons(error);
      const overtaken = (reasons ?? []).flatMap((r, i) => (i > 0 && r.Code === 'ConditionalCheckFailed' ? [request.offsets[i - 1] as OffsetCommit] : []));
      if (overtaken.length > 0) {
        const where = overtaken.map((o) => tpKey(o.topic, o.partition)).join(', ');
        throw new SluiceError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Commit sequence ${sequence} of member ${memberId} at epoch ${request.memberEpoch} is older than the one already committed for ${where}: a late attempt overtaken by a newer commit; nothing was changed`);
      }
      // The member's item changed between the read and the write (a heartbeat): check again.
      if (reasons === undefined || attempt >= 3) throw error;
    }
  }
}

/** The committing member as read, if it may commit every offset of the request; else the reason why not. */
async function ownerCheck(storage: Storage, group: string, request: CommitRequest, nowMs: number): Promise<MemberItem> {
  const result = await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk: groupPk(group), sk: memberSk(request.memberId as string) }, ConsistentRead: true }));
  const item = result.Item as MemberItem | undefined;
  if (item === undefined || item.expiresAtMs < nowMs) throw new SluiceError('UNKNOWN_MEMBER_ID', `Member ${request.memberId} is not in group ${group}; its commit is rejected`);
  const member = memberFromItem(item);
  if (member.fenced) throw new SluiceError('FENCED_MEMBER_EPOCH', `Member ${request.memberId} was fenced (it did not release revoked partitions in time); its commit is rejected`);
  if (member.memberEpoch !== request.memberEpoch) throw new SluiceError('STALE_MEMBER_EPOCH', `Member ${request.memberId} committed at epoch ${request.memberEpoch}, but its epoch is ${member.memberEpoch}`);
  const holds = new Set([...member.assigned, ...member.revoking]);
  const notOwned = request.offsets.map((o) => tpKey(o.topic, o.partition)).filter((tp) => !holds.has(tp));
  if (notOwned.length > 0) throw new SluiceError('STALE_MEMBER_EPOCH', `Member ${request.memberId} does not own ${notOwned.join(', ')} at epoch ${member.memberEpoch}`);
  return item;
}

/** Writes `items` conditional on META being unchanged (no member joined since it was read). */
async function writeWhileEmpty(storage: Storage, group: string, version: number | undefined, items: Array<{ Put: { TableName: string; Item: StoredOffsetItem } }>): Promise<void> {
  const TableName = storage.env.tableName;
  await storage.ddb.send(new PutCommand({ TableName, Item: { pk: GROUPS_PK, sk: registrySk(group), group } }));
  try {
    await storage.ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          version === undefined
            ? { ConditionCheck: { TableName, Key: { pk: groupPk(group), sk: META_SK }, ConditionExpression: itemDoesNotExist } }
            : { ConditionCheck: { TableName, Key: { pk: groupPk(group), sk: META_SK }, ConditionExpression: `version = :v AND ${notBeingDeleted}`, ExpressionAttributeValues: { ':v': version, ':now': Date.now() } } },
          ...items,
        ],
      }),
    );
  } catch (error) {
    if (cancellationReasons(error) === undefined) throw error;
    throw new SluiceError('NON_EMPTY_GROUP', `Group ${group} changed (a member joined, or it is being deleted) while committing; retry`);
  }
}

export async function queryAll(storage: Storage, pk: string, skPrefix?: string): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  const pages = queryPages<Record<string, unknown>>(storage, {
    KeyConditionExpression: skPrefix === undefined ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :prefix)',
    ExpressionAttributeValues: { ':pk': pk, ...(skPrefix === undefined ? {} : { ':prefix': skPrefix }) },
    ConsistentRead: true,
  });
  for await (const page of pages) items.push(...page);
  return items;
}

/**
 * Committed offsets of the group, by topic and partition: only those of each topic's
 * current incarnation (a deleted and re-created topic starts with none).
 */
export async function committedOffsets(storage: Storage, group: string, nowMs = Date.now()): Promise<CommittedOffsetItem[]> {
  // Past its TTL an offset is gone (KIP-211), though DynamoDB may remove it days later.
  const items = ((await queryAll(storage, offsetsPk(group))) as unknown as StoredOffsetItem[]).filter((i) => i.sk !== RETENTION_SK && !isExpired(i, nowMs));
  const current = new Map<string, string | undefined>();
  for (const name of new Set(items.map((i) => i.topic))) current.set(name, (await cachedTopic(storage, name, nowMs))?.topicId);
  return items.filter((i) => i.topicId !== undefined && current.get(i.topic) === i.topicId);
}

/** Deletes items by key, 25 per BatchWriteItem, until none is left unprocessed. */
export async function deleteKeys(storage: Storage, keys: ReadonlyArray<{ pk: unknown; sk: unknown }>): Promise<void> {
  const table = storage.env.tableName;
  for (let i = 0; i < keys.length; i += 25) {
    let requests: Record<string, Array<{ DeleteRequest: { Key: Record<string, unknown> } }>> | undefined = { [table]: keys.slice(i, i + 25).map(({ pk, sk }) => ({ DeleteRequest: { Key: { pk, sk } } })) };
    while (requests !== undefined && (requests[table]?.length ?? 0) > 0) {
      const result = await storage.ddb.send(new BatchWriteCommand({ RequestItems: requests }));
      requests = result.UnprocessedItems as typeof requests;
    }
  }
}

/** Deletes every group's committed offsets of one topic incarnation (when the topic is deleted). */
export async function deleteTopicOffsets(storage: Storage, topicId: string): Promise<void> {
  const index = await queryAll(storage, topicOffsetsPk(topicId));
  for (const entry of index) {
    const offsets = await queryAll(storage, offsetsPk(String(entry.group)), `${topicId}#`);
    await deleteKeys(storage, offsets.map((o) => ({ pk: o.pk, sk: o.sk })));
  }
  await deleteKeys(storage, index.map((i) => ({ pk: i.pk, sk: i.sk })));
  for (const key of indexed) if (key.startsWith(`${topicId}\n`)) indexed.delete(key);
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
export async function resetOffsets(storage: Storage, group: string, topicName: string, target: ResetTarget, nowMs = Date.now(), retention: RetentionOptions = DEFAULT_RETENTION): Promise<CommittedOffsetItem[]> {
  const topic = await cachedTopic(storage, topicName);
  if (topic === undefined) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(topicName)} does not exist`);
  const read = await readGroup(storage, group);
  const live = read.members.filter((m) => isLive(m, nowMs));
  if (live.length > 0) throw new SluiceError('NON_EMPTY_GROUP', `Group ${group} has ${live.length} live member(s); offsets can be reset only while it is empty`);
  const offsets = await Promise.all(
    Array.from({ length: topic.partitions }, async (_, partition) => {
      const offset = await resetOffsetFor(storage, topic, partition, target);
      return offsetItem(group, topic, { topic: topicName, partition, offset, metadata: 'reset' }, nowMs, retention);
    }),
  );
  await indexTopics(storage, group, [topic]);
  for (let i = 0; i < offsets.length; i += OFFSETS_PER_COMMIT) {
    await writeWhileEmpty(storage, group, read.meta?.version, offsets.slice(i, i + OFFSETS_PER_COMMIT).map((Item) => ({ Put: { TableName: storage.env.tableName, Item } })));
  }
  return offsets;
}
