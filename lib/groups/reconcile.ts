/**
 * The heartbeat state machine, after Kafka's KIP-848 consumer protocol, as a pure function
 * of the group read and the request. No group-wide barrier: each member converges to its
 * target on its own heartbeats.
 *
 *   join (epoch 0) / leave (epoch -1) / subscription or partition-count change
 *       → groupEpoch + 1 → target assignment recomputed at the new epoch
 *   each heartbeat of member m, target T, current assignment A:
 *       keep   A ∩ T
 *       revoke A \ T       (m stops owning them; stays in `owned` until m reports release)
 *       add    T \ A       only those no other live member holds in `assigned` or `owned`
 *   a partition therefore moves only after its old owner released it or its lease expired:
 *   never two owners at once.
 *
 * Lease rule: a member is dead once `expiresAtMs` (its last heartbeat + session timeout, by
 * the clock of the function that handled that heartbeat) has passed by the clock of the
 * function handling a later request. Clocks need to agree only to well within the session
 * timeout (45 s by default): a skew of s makes a lease look up to s shorter or longer.
 */
import { GROUPS } from '../config/defaults.ts';
import { assign, ASSIGNORS, type AssignorName, type TopicPartitionKey } from './assignors.ts';
import { groupPk, memberSk, META_SK, type GroupMetaItem, type MemberItem } from './schema.ts';

export interface HeartbeatRequest {
  memberId: string;
  /** 0 to join, -1 to leave, else the epoch the member last received. */
  memberEpoch: number;
  subscribedTopics?: string[];
  ownedPartitions?: TopicPartitionKey[];
  assignor?: AssignorName;
  /** Honoured only when the request creates the group or the group is empty. */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
}

export interface HeartbeatResponse {
  memberEpoch: number;
  assignment: TopicPartitionKey[];
  heartbeatIntervalMs: number;
  /** The group's session timeout, so a member can stop processing before it is fenced. */
  sessionTimeoutMs: number;
}

export type HeartbeatOutcome =
  | { kind: 'rejected'; error: 'UNKNOWN_MEMBER_ID' | 'FENCED_MEMBER_EPOCH'; message: string }
  | {
      kind: 'accepted';
      response: HeartbeatResponse;
      /** The new META, or undefined when it is unchanged. */
      meta: GroupMetaItem | undefined;
      /** The requester's new item, or undefined when it left. */
      member: MemberItem | undefined;
      /** Members to delete (expired, or the requester leaving), with the lease read for each. */
      removed: Array<{ memberId: string; expiresAtMs: number | undefined }>;
      /** True when the write must be conditional on META's version (the requester gains partitions or META changes). */
      needsMeta: boolean;
    };

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** The assignor most members asked for (ties: the first in ASSIGNORS). */
function groupAssignor(members: readonly MemberItem[]): AssignorName {
  const votes = ASSIGNORS.map((name) => ({ name, n: members.filter((m) => m.assignor === name).length }));
  return votes.reduce((best, v) => (v.n > best.n ? v : best)).name;
}

/** A new group's META, before anything is written. */
export function newGroupMeta(group: string, request: HeartbeatRequest): GroupMetaItem {
  return {
    pk: groupPk(group),
    sk: META_SK,
    group,
    groupEpoch: 0,
    assignmentEpoch: 0,
    assignor: request.assignor ?? 'uniform',
    target: {},
    partitionCounts: {},
    sessionTimeoutMs: request.sessionTimeoutMs ?? GROUPS.sessionTimeoutMs,
    heartbeatIntervalMs: request.heartbeatIntervalMs ?? GROUPS.heartbeatIntervalMs,
    version: 0,
  };
}

/**
 * Applies one heartbeat to the group as read. `partitionCounts` holds the current partition
 * count of every topic any member (including the requester) subscribes to.
 */
export function reconcile(group: string, readMeta: GroupMetaItem | undefined, readMembers: readonly MemberItem[], request: HeartbeatRequest, partitionCounts: ReadonlyMap<string, number>, nowMs: number): HeartbeatOutcome {
  const meta: GroupMetaItem = structuredClone(readMeta ?? newGroupMeta(group, request));
  const existing = readMembers.find((m) => m.memberId === request.memberId);
  const expired = readMembers.filter((m) => m.expiresAtMs < nowMs);
  const removed = expired.map((m) => ({ memberId: m.memberId, expiresAtMs: m.expiresAtMs as number | undefined }));
  let metaChanged = readMeta === undefined || expired.length > 0;
  let live = readMembers.filter((m) => m.expiresAtMs >= nowMs);

  if (request.memberEpoch > 0) {
    if (existing === undefined || existing.expiresAtMs < nowMs) {
      return { kind: 'rejected', error: 'UNKNOWN_MEMBER_ID', message: `Member ${request.memberId} is not in group ${group}${existing === undefined ? '' : ': its session expired'}; rejoin with memberEpoch 0` };
    }
    if (existing.memberEpoch !== request.memberEpoch) {
      return { kind: 'rejected', error: 'FENCED_MEMBER_EPOCH', message: `Member ${request.memberId} sent epoch ${request.memberEpoch} but its epoch is ${existing.memberEpoch}; rejoin with memberEpoch 0` };
    }
  }

  if (request.memberEpoch === -1) {
    // Leaving a group one is not in changes nothing (beyond sweeping expired members).
    if ((existing === undefined || existing.expiresAtMs < nowMs) && expired.length === 0) {
      return { kind: 'accepted', response: { memberEpoch: -1, assignment: [], heartbeatIntervalMs: meta.heartbeatIntervalMs, sessionTimeoutMs: meta.sessionTimeoutMs }, meta: undefined, member: undefined, removed: [], needsMeta: false };
    }
    if (existing !== undefined && existing.expiresAtMs >= nowMs) {
      removed.push({ memberId: existing.memberId, expiresAtMs: undefined });
      live = live.filter((m) => m.memberId !== existing.memberId);
      metaChanged = true;
    }
    recomputeIfNeeded(meta, live, partitionCounts, metaChanged);
    return { kind: 'accepted', response: { memberEpoch: -1, assignment: [], heartbeatIntervalMs: meta.heartbeatIntervalMs, sessionTimeoutMs: meta.sessionTimeoutMs }, meta: bump(meta), member: undefined, removed, needsMeta: true };
  }

  let member: MemberItem;
  if (request.memberEpoch === 0) {
    // A (re)join starts from nothing: whatever the member owned before is gone.
    if (live.length === 0 || (live.length === 1 && live[0]?.memberId === request.memberId)) {
      if (request.sessionTimeoutMs !== undefined) meta.sessionTimeoutMs = request.sessionTimeoutMs;
      if (request.heartbeatIntervalMs !== undefined) meta.heartbeatIntervalMs = request.heartbeatIntervalMs;
    }
    member = {
      pk: groupPk(group),
      sk: memberSk(request.memberId),
      memberId: request.memberId,
      memberEpoch: 0,
      subscribedTopics: [...new Set(request.subscribedTopics ?? [])].sort(),
      assignor: request.assignor ?? 'uniform',
      assigned: [],
      owned: [],
      expiresAtMs: 0,
      lastHeartbeatMs: 0,
      joinedAtMs: nowMs,
    };
    live = [...live.filter((m) => m.memberId !== request.memberId), member];
    metaChanged = true;
  } else {
    member = structuredClone(existing as MemberItem);
    live = live.map((m) => (m.memberId === member.memberId ? member : m));
    if (request.subscribedTopics !== undefined) {
      const topics = [...new Set(request.subscribedTopics)].sort();
      if (!sameSet(topics, member.subscribedTopics)) metaChanged = true;
      member.subscribedTopics = topics;
    }
    if (request.assignor !== undefined && request.assignor !== member.assignor) {
      member.assignor = request.assignor;
      metaChanged = true;
    }
    if (request.ownedPartitions !== undefined) {
      // A member can only report releasing: never claim what it was not given.
      const claimable = new Set([...member.assigned, ...member.owned]);
      member.owned = [...new Set(request.ownedPartitions)].filter((tp) => claimable.has(tp)).sort();
    }
  }
  member.expiresAtMs = nowMs + meta.sessionTimeoutMs;
  member.lastHeartbeatMs = nowMs;

  const subscribed = new Set(live.flatMap((m) => m.subscribedTopics));
  const counts: Record<string, number> = {};
  for (const topic of [...subscribed].sort()) {
    const n = partitionCounts.get(topic);
    if (n !== undefined) counts[topic] = n;
  }
  if (JSON.stringify(counts) !== JSON.stringify(meta.partitionCounts)) {
    meta.partitionCounts = counts;
    metaChanged = true;
  }
  const assignor = groupAssignor(live);
  if (assignor !== meta.assignor) {
    meta.assignor = assignor;
    metaChanged = true;
  }
  recomputeIfNeeded(meta, live, partitionCounts, metaChanged);

  const target = meta.target[member.memberId] ?? [];
  const othersHold = new Set(live.filter((m) => m.memberId !== member.memberId).flatMap((m) => [...m.assigned, ...m.owned]));
  const keep = member.assigned.filter((tp) => target.includes(tp));
  const add = target.filter((tp) => !member.assigned.includes(tp) && !othersHold.has(tp));
  const assigned = [...keep, ...add].sort();
  if (!sameSet(assigned, member.assigned) || member.memberEpoch === 0) {
    member.assigned = assigned;
    member.memberEpoch += 1;
  }

  const needsMeta = metaChanged || add.length > 0;
  return {
    kind: 'accepted',
    response: { memberEpoch: member.memberEpoch, assignment: member.assigned, heartbeatIntervalMs: meta.heartbeatIntervalMs, sessionTimeoutMs: meta.sessionTimeoutMs },
    meta: needsMeta ? bump(meta) : undefined,
    member,
    removed,
    needsMeta,
  };
}

function recomputeIfNeeded(meta: GroupMetaItem, live: readonly MemberItem[], partitionCounts: ReadonlyMap<string, number>, changed: boolean): void {
  if (changed) meta.groupEpoch += 1;
  if (meta.assignmentEpoch === meta.groupEpoch) return;
  const result = assign(meta.assignor, {
    subscriptions: new Map(live.map((m) => [m.memberId, m.subscribedTopics])),
    partitionCounts: new Map([...partitionCounts].filter(([topic]) => live.some((m) => m.subscribedTopics.includes(topic)))),
    current: new Map(Object.entries(meta.target)),
  });
  meta.target = Object.fromEntries(result);
  meta.assignmentEpoch = meta.groupEpoch;
}

function bump(meta: GroupMetaItem): GroupMetaItem {
  return { ...meta, version: meta.version + 1 };
}
