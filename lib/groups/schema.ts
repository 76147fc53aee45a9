/**
 * Consumer-group state in DynamoDB (same table as the log):
 *
 *   pk                 sk                 item
 *   GROUPS             G#<group>          registry entry (so groups can be listed)
 *   GRP#<group>        META               GroupMetaItem: epochs, topic table, subscriptions, timeouts, sweep due time, version
 *   GRP#<group>        TARGET             GroupTargetItem: the target assignment, written with META
 *   GRP#<group>        M#<memberId>       MemberItem: member epochs, lease, assignment, partitions being revoked
 *   GOFF#<group>       <topicId>#<p>      CommittedOffsetItem, keyed by the topic's incarnation
 *   TOFF#<topicId>     <group>            "group has offsets of this topic", so deleting a topic deletes them
 *
 * One Query of GRP#<group> reads the whole group. A steady heartbeat reads only META and the
 * member's own item (one BatchGetItem, the same cost at 3 and 500 members: the target, which
 * grows with the group, lives in its own item) and writes only its own item, so members do
 * not contend; see steady.ts. Anything that gives a member new partitions goes through META's
 * version, so two members can never be handed the same partition from two different reads.
 *
 * Partition sets are stored compactly (partition-sets.ts): with the limits in GROUPS
 * (members, topics and partitions per group) META and a member item stay under DynamoDB's
 * 400 KB item limit.
 */
import type { AssignorName, TopicPartitionKey } from './assignors.ts';

export const GROUPS_PK = 'GROUPS';
export const META_SK = 'META';
export const TARGET_SK = 'TARGET';
export const MEMBER_SK_PREFIX = 'M#';

export function groupPk(group: string): string {
  return `GRP#${group}`;
}
export function memberSk(memberId: string): string {
  return `${MEMBER_SK_PREFIX}${memberId}`;
}
export function offsetsPk(group: string): string {
  return `GOFF#${group}`;
}
export function offsetSk(topicId: string, partition: number): string {
  return `${topicId}#${partition.toString().padStart(6, '0')}`;
}
export function topicOffsetsPk(topicId: string): string {
  return `TOFF#${topicId}`;
}
export function registrySk(group: string): string {
  return `G#${group}`;
}

/** A topic as the group's target was computed for it. */
export interface GroupTopic {
  name: string;
  /** The incarnation: a re-created topic is a different topic. */
  topicId: string;
  partitions: number;
}

/** The group as a whole, in memory. */
export interface GroupMeta {
  group: string;
  /** Bumped by every membership, subscription or topic change. Never decreases. */
  groupEpoch: number;
  /** The group epoch the target assignment was computed at; catches up with groupEpoch. */
  assignmentEpoch: number;
  assignor: AssignorName;
  /** The subscribed topics that exist, sorted by name: what the target was computed for. */
  topics: GroupTopic[];
  /** memberId → target partitions. A Map: member ids are user strings. */
  target: Map<string, TopicPartitionKey[]>;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Sorted union of the live members' explicit subscriptions (existing or not): what a steady heartbeat checks topics for. */
  subscribedNames: string[];
  /** Sorted union of the live members' subscribedTopicRegex. */
  subscribedRegexes: string[];
  /**
   * When the next full read of the group is due. Never later than any member's lease end,
   * any revoke deadline or any fenced member's removal, as of the last full read: until then
   * no member needs sweeping, so a steady heartbeat need not read the others.
   */
  nextSweepAtMs: number;
  /** When the group last lost its last live member (0 while it has one): an empty group without offsets expires after GROUPS.emptyGroupRetentionMs. */
  emptySinceMs: number;
  /** The META version the stored target was written at (the TARGET item carries the same). */
  targetVersion: number;
  /** Optimistic-concurrency version: every META write is conditional on it. */
  version: number;
}

/** GroupMeta as stored. */
export interface GroupMetaItem {
  pk: string;
  sk: typeof META_SK;
  group: string;
  groupEpoch: number;
  assignmentEpoch: number;
  assignor: AssignorName;
  topics: GroupTopic[];
  /** Only in items written before the target moved to its own item. */
  target?: Array<{ memberId: string; partitions: string }>;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Absent in older items: the next full read writes them. */
  subscribedNames?: string[];
  subscribedRegexes?: string[];
  nextSweepAtMs?: number;
  emptySinceMs?: number;
  /** Absent in older items, whose target is inline. */
  targetVersion?: number;
  version: number;
}

/** The target assignment as stored, beside META and always written with it (META's version guards both). */
export interface GroupTargetItem {
  pk: string;
  sk: typeof TARGET_SK;
  /** The META version this target belongs to. */
  version: number;
  /** Partition sets encoded with META's topic-table indexes (partition-sets.ts). */
  target: Array<{ memberId: string; partitions: string }>;
}

/** One member, in memory. */
export interface Member {
  memberId: string;
  /** KIP-345 group.instance.id of a static member; undefined for a dynamic one. */
  instanceId?: string;
  /**
   * The target-assignment epoch the member has reached. Member epochs come from the group
   * epoch, which never decreases, so a member id never sees one epoch twice: a rejoin gets
   * an epoch above everything an earlier incarnation held. -2: a static member that left
   * and keeps its assignment until its lease ends or its instance id rejoins.
   */
  memberEpoch: number;
  /** The epoch before the last one (-1: none); accepted once more if a response was lost. */
  previousMemberEpoch: number;
  subscribedTopics: string[];
  /** KIP-848 subscribedTopicRegex (JavaScript syntax, checked by topic-regex.ts); undefined for none. */
  subscribedRegex?: string;
  assignor: AssignorName;
  /** What the member may own at its epoch. */
  assigned: TopicPartitionKey[];
  /** Revoked, not yet reported released: still the member's (it may commit them), nobody else's. */
  revoking: TopicPartitionKey[];
  /** When `revoking` must be empty by; past it the member is fenced. 0 while nothing is revoked. */
  revokeDeadlineMs: number;
  /** KIP-848 rebalance timeout (max.poll.interval.ms): time to release revoked partitions. */
  rebalanceTimeoutMs: number;
  /** Fenced for not releasing in time: holds nothing, kept until its lease ends so it gets FENCED_MEMBER_EPOCH. */
  fenced: boolean;
  /** True when `assigned` is exactly the target of `memberEpoch` (nothing to revoke or to receive): the member is steady. */
  atTarget?: boolean;
  /** Bumped whenever `assigned`, `revoking` or `fenced` change: commits are conditional on it. */
  assignmentVersion: number;
  /** Lease: the member is dead once this passes without a heartbeat. */
  expiresAtMs: number;
  lastHeartbeatMs: number;
  joinedAtMs: number;
}

/** Member as stored: partition sets encoded with topic names. */
export interface MemberItem extends Omit<Member, 'assigned' | 'revoking'> {
  pk: string;
  sk: string;
  assigned: string;
  revoking: string;
}

export interface CommittedOffsetItem {
  pk: string;
  sk: string;
  topic: string;
  topicId: string;
  partition: number;
  offset: number;
  metadata: string;
  committedAtMs: number;
}
