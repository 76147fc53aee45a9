/**
 * Consumer-group state in DynamoDB (same table as the log):
 *
 *   pk                 sk            item
 *   GROUPS             G#<group>     registry entry (so groups can be listed)
 *   GRP#<group>        META          GroupMetaItem: epochs, target assignment, timeouts, version
 *   GRP#<group>        M#<memberId>  MemberItem: member epoch, lease, assigned and owned partitions
 *   GOFF#<group>       <topic>#<p>   CommittedOffsetItem
 *
 * One Query of GRP#<group> reads the whole group. A member's steady-state heartbeat writes
 * only its own item (lease, reported ownership), so members do not contend; anything that
 * gives a member new partitions goes through META's version, so two members can never be
 * handed the same partition from two different reads.
 */
import type { AssignorName, TopicPartitionKey } from './assignors.ts';

export const GROUPS_PK = 'GROUPS';
export const META_SK = 'META';

export function groupPk(group: string): string {
  return `GRP#${group}`;
}
export function memberSk(memberId: string): string {
  return `M#${memberId}`;
}
export function offsetsPk(group: string): string {
  return `GOFF#${group}`;
}
export function offsetSk(topic: string, partition: number): string {
  return `${topic}#${partition.toString().padStart(6, '0')}`;
}
export function registrySk(group: string): string {
  return `G#${group}`;
}

/** The group as a whole. */
export interface GroupMetaItem {
  pk: string;
  sk: typeof META_SK;
  group: string;
  /** Bumped by every membership, subscription or partition-count change. Never decreases. */
  groupEpoch: number;
  /** The group epoch the target assignment was computed at; catches up with groupEpoch. */
  assignmentEpoch: number;
  assignor: AssignorName;
  /** memberId → target partitions. */
  target: Record<string, TopicPartitionKey[]>;
  /** topic → partition count the target was computed for. */
  partitionCounts: Record<string, number>;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Optimistic-concurrency version: every META write is conditional on it. */
  version: number;
}

/** One member. */
export interface MemberItem {
  pk: string;
  sk: string;
  memberId: string;
  /** Bumped whenever the member's assignment changes; older epochs are fenced. */
  memberEpoch: number;
  subscribedTopics: string[];
  assignor: AssignorName;
  /** What the member may own at its epoch: its current assignment. */
  assigned: TopicPartitionKey[];
  /** What it last reported owning; a revoked partition stays here until it reports it released. */
  owned: TopicPartitionKey[];
  /** Lease: the member is dead once this passes without a heartbeat. */
  expiresAtMs: number;
  lastHeartbeatMs: number;
  joinedAtMs: number;
}

export interface CommittedOffsetItem {
  pk: string;
  sk: string;
  topic: string;
  partition: number;
  offset: number;
  metadata: string;
  committedAtMs: number;
}
