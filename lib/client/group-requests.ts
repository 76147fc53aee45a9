/**
 * The group API's member calls, as the consumer makes them (the admin calls are in
 * admin.ts): the KIP-848 heartbeat, OffsetCommit and OffsetFetch.
 *
 *   POST /v1/groups/{group}/heartbeat  {memberId, memberEpoch, subscribedTopics?, ownedPartitions?, assignor?, sessionTimeoutMs?, heartbeatIntervalMs?, rebalanceTimeoutMs?}
 *                                      → {memberEpoch, assignment: [{topic, partitions}], heartbeatIntervalMs}
 *   POST /v1/groups/{group}/offsets    {memberId, memberEpoch, commitSequence, offsets: [{topic, partition, offset}]}   (≤ 99 offsets)
 *   GET  /v1/groups/{group}/offsets    → {offsets: [{topic, partition, offset, metadata, committedAt}]}
 */
import { pathOf, type RetryListener, type Transport } from './http.ts';
import type { ResolvedRetryOptions } from './options.ts';
import type { AssignedPartitions, CommittedOffset, GroupAssignor, TopicPartition, TopicPartitionOffset } from './types.ts';

export interface HeartbeatBody {
  memberId: string;
  /** 0 to join, -1 to leave, else the epoch last received. */
  memberEpoch: number;
  /** Required to join. */
  subscribedTopics?: string[];
  /** What the member still owns: a revoked partition left out of it is released. */
  ownedPartitions?: AssignedPartitions[];
  assignor?: GroupAssignor;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** The member's time to release revoked partitions before it is fenced. */
  rebalanceTimeoutMs?: number;
}

export interface HeartbeatAnswer {
  memberEpoch: number;
  /** What the member may own now. */
  assignment: AssignedPartitions[];
  heartbeatIntervalMs: number;
  /** The group's session timeout: the member stops processing before it can be fenced. */
  sessionTimeoutMs: number;
}

/** The server's limit: one DynamoDB transaction holds a member check and 99 offsets. */
export const MAX_OFFSETS_PER_COMMIT = 99;

/** `topic:partition`, how the group code keys partitions (topic names cannot hold ':'). */
export type TpKey = string;

export function tpKey(topic: string, partition: number): TpKey {
  return `${topic}:${partition}`;
}

export function parseTpKey(k: TpKey): TopicPartition {
  const at = k.lastIndexOf(':');
  return { topic: k.slice(0, at), partition: Number(k.slice(at + 1)) };
}

/** Keys grouped by topic, sorted, as the API lists partitions. */
export function groupByTopic(keys: Iterable<TpKey>): AssignedPartitions[] {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of [...keys].map(parseTpKey)) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
  return [...byTopic].sort(([a], [b]) => a.localeCompare(b)).map(([topic, partitions]) => ({ topic, partitions: partitions.sort((x, y) => x - y) }));
}

export function keysOf(assignment: readonly AssignedPartitions[]): TpKey[] {
  return assignment.flatMap((t) => t.partitions.map((p) => tpKey(t.topic, p)));
}

export function sendHeartbeat(transport: Transport, retry: ResolvedRetryOptions, group: string, body: HeartbeatBody, signal?: AbortSignal, onRetry?: RetryListener): Promise<HeartbeatAnswer> {
  return transport.json<HeartbeatAnswer>(
    { method: 'POST', path: pathOf('v1', 'groups', group, 'heartbeat'), headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal === undefined ? {} : { signal }) },
    retry,
    onRetry,
  );
}

/** One commit request: at most MAX_OFFSETS_PER_COMMIT offsets; a member's, or standalone while the group is empty. */
export async function sendCommit(transport: Transport, retry: ResolvedRetryOptions, group: string, member: { memberId: string; memberEpoch: number; commitSequence?: number } | undefined, offsets: readonly TopicPartitionOffset[], signal?: AbortSignal, onRetry?: RetryListener): Promise<void> {
  const body = { ...member, offsets: offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })) };
  await transport.json<unknown>({ method: 'POST', path: pathOf('v1', 'groups', group, 'offsets'), headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal === undefined ? {} : { signal }) }, retry, onRetry);
}

export async function fetchCommitted(transport: Transport, retry: ResolvedRetryOptions, group: string, signal?: AbortSignal, onRetry?: RetryListener): Promise<CommittedOffset[]> {
  const { offsets } = await transport.json<{ offsets: CommittedOffset[] }>({ method: 'GET', path: pathOf('v1', 'groups', group, 'offsets'), ...(signal === undefined ? {} : { signal }) }, retry, onRetry);
  return offsets;
}
