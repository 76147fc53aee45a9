import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { readHeads } from '../log/topics.ts';
import type { Storage } from '../storage/clients.ts';
import { toTopicPartitions, type TopicPartitions } from './heartbeat.ts';
import { committedOffsets } from './offsets.ts';
import { GROUPS_PK } from './schema.ts';
import { tpKey } from './assignors.ts';
import { GROUPS } from '../config/defaults.ts';
import { isLive } from './reconcile.ts';
import { sameTopics, topicsOf } from './subscriptions.ts';
import type { GroupMeta, Member } from './schema.ts';
import { readGroup } from './store.ts';
import { cachedTopic, groupTopics } from './topic-partitions.ts';

/**
 * Kafka's consumer-group states, as KIP-848 names them:
 *   Empty        no live member
 *   Assigning    the target does not reflect the group as it is now: a member joined, left
 *                or expired, or a subscribed topic was created, deleted or grew, and no
 *                heartbeat has recomputed the target yet (Kafka: group epoch > target epoch)
 *   Reconciling  some member has not reached its target: it is still to release revoked
 *                partitions, to reach the target epoch, or to receive partitions others hold
 *   Stable       every member owns exactly its target, at the target epoch
 *   Dead         the group was deleted while this description was read (member items
 *                without META). A group that is gone answers GROUP_ID_NOT_FOUND, as Kafka's
 *                ConsumerGroupDescribe does: deleted, never seen, or empty with no committed
 *                offsets for GROUPS.emptyGroupRetentionMs (Kafka removes such a group).
 */
export type GroupState = 'Empty' | 'Assigning' | 'Reconciling' | 'Stable' | 'Dead';

export interface GroupDescription {
  group: string;
  state: GroupState;
  groupEpoch: number;
  assignmentEpoch: number;
  assignor: string;
  sessionTimeoutMs: number | null;
  heartbeatIntervalMs: number | null;
  members: Array<{ memberId: string; instanceId: string | null; memberEpoch: number; subscribedTopics: string[]; subscribedTopicRegex: string | null; assignment: TopicPartitions; revoking: TopicPartitions; targetAssignment: TopicPartitions; lastHeartbeat: number; leaseExpiresAt: number }>;
  /** owner: who holds the partition now (assigned, or revoked and not yet released); pendingOwner: who it goes to next, when that differs. */
  partitions: Array<{ topic: string; partition: number; owner: string | null; pendingOwner: string | null; committedOffset: number | null; highWatermark: number; lag: number | null }>;
}

/** True when the group's target was computed for other members or topics than it has now. */
async function targetLags(storage: Storage, meta: GroupMeta, live: readonly Member[], nowMs: number): Promise<boolean> {
  if (meta.assignmentEpoch < meta.groupEpoch) return true;
  const targetMembers = [...meta.target.keys()].sort();
  const liveMembers = live.map((m) => m.memberId).sort();
  if (targetMembers.length !== liveMembers.length || targetMembers.some((id, i) => id !== liveMembers[i])) return true;
  const topics = await groupTopics(storage, live.flatMap((m) => m.subscribedTopics), meta.topics, nowMs, [...new Set(live.flatMap((m) => m.subscribedRegex ?? []))]);
  return !sameTopics(topicsOf(live, topics), meta.topics);
}

/** Every group that has ever had a member or a commit. */
export async function listGroups(storage: Storage): Promise<string[]> {
  const groups: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await storage.ddb.send(new QueryCommand({ TableName: storage.env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': GROUPS_PK }, ExclusiveStartKey: startKey }));
    groups.push(...(page.Items ?? []).map((i) => String(i.group)));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return groups;
}

/** State, live members with their assignments, and per partition the committed offset, high watermark and lag. */
export async function describeGroup(storage: Storage, group: string, nowMs = Date.now()): Promise<GroupDescription | undefined> {
  const [read, offsets] = await Promise.all([readGroup(storage, group), committedOffsets(storage, group)]);
  if (read.meta === undefined && offsets.length === 0 && read.members.length === 0) return undefined;
  const live = read.members.filter((m) => isLive(m, nowMs)).sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
  const meta = read.meta;
  if (meta !== undefined && live.length === 0 && offsets.length === 0) {
    const emptySinceMs = meta.emptySinceMs > 0 ? meta.emptySinceMs : Math.max(0, ...read.members.map((m) => m.expiresAtMs));
    if (emptySinceMs > 0 && nowMs - emptySinceMs >= GROUPS.emptyGroupRetentionMs) return undefined;
  }
  const target = meta?.target ?? new Map<string, string[]>();
  const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && b.every((x) => a.includes(x));
  const stable = live.every((m) => m.revoking.length === 0 && m.memberEpoch === meta?.assignmentEpoch && sameSet(m.assigned, target.get(m.memberId) ?? []));
  const state: GroupState = meta === undefined && read.members.length > 0 ? 'Dead' : live.length === 0 ? 'Empty' : meta !== undefined && (await targetLags(storage, meta, live, nowMs)) ? 'Assigning' : stable ? 'Stable' : 'Reconciling';
  const owners = new Map(live.flatMap((m) => [...m.assigned, ...m.revoking].map((tp) => [tp, m.memberId] as const)));
  const targetOwners = new Map(live.flatMap((m) => (target.get(m.memberId) ?? []).map((tp) => [tp, m.memberId] as const)));
  const topics = new Set([...live.flatMap((m) => m.subscribedTopics), ...(live.length > 0 ? (meta?.topics ?? []).map((t) => t.name) : []), ...offsets.map((o) => o.topic)]);
  const partitions: GroupDescription['partitions'] = [];
  for (const name of [...topics].sort()) {
    const topic = await cachedTopic(storage, name, nowMs);
    if (topic === undefined) continue;
    for (const head of await readHeads(storage, topic)) {
      const committed = offsets.find((o) => o.topic === name && o.topicId === topic.topicId && o.partition === head.partition)?.offset ?? null;
      partitions.push({
        topic: name,
        partition: head.partition,
        owner: owners.get(tpKey(name, head.partition)) ?? null,
        pendingOwner: targetOwners.get(tpKey(name, head.partition)) === owners.get(tpKey(name, head.partition)) ? null : (targetOwners.get(tpKey(name, head.partition)) ?? null),
        committedOffset: committed,
        highWatermark: head.highWatermark,
        lag: committed === null ? null : Math.max(0, head.highWatermark - Math.max(committed, head.logStartOffset)),
      });
    }
  }
  return {
    group,
    state,
    groupEpoch: meta?.groupEpoch ?? 0,
    assignmentEpoch: meta?.assignmentEpoch ?? 0,
    assignor: meta?.assignor ?? 'uniform',
    sessionTimeoutMs: meta?.sessionTimeoutMs ?? null,
    heartbeatIntervalMs: meta?.heartbeatIntervalMs ?? null,
    members: live.map((m) => ({
      memberId: m.memberId,
      instanceId: m.instanceId ?? null,
      memberEpoch: m.memberEpoch,
      subscribedTopics: m.subscribedTopics,
      subscribedTopicRegex: m.subscribedRegex ?? null,
      assignment: toTopicPartitions(m.assigned),
      revoking: toTopicPartitions(m.revoking),
      targetAssignment: toTopicPartitions(target.get(m.memberId) ?? []),
      lastHeartbeat: m.lastHeartbeatMs,
      leaseExpiresAt: m.expiresAtMs,
    })),
    partitions,
  };
}
