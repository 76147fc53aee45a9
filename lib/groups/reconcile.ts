/**
 * The heartbeat state machine, after Kafka's KIP-848 consumer protocol, as a pure function
 * of the group read and the request. No group-wide barrier: each member converges to its
 * target on its own heartbeats (Kafka's CurrentAssignmentBuilder).
 *
 *   join (epoch 0) / leave (epoch -1) / fencing / expiry / subscription or topic change
 *       → groupEpoch + 1 → target assignment recomputed at the new epoch
 *   each heartbeat of member m at epoch e, target T (epoch E), assigned A, revoking R:
 *       A \ T non-empty  revoke: A := A ∩ T, R := R ∪ (A \ T); epoch stays e; the member
 *                        has its rebalance timeout to report R released, else it is fenced
 *       R non-empty      wait: a partition leaves R only when m's heartbeat omits it from
 *                        `ownedPartitions` (an omitted field changes nothing)
 *       otherwise        epoch := E; add T \ A that no other live member holds in A or R
 *   a partition therefore moves only after its old owner released it, was fenced, or its
 *   lease expired: never two owners at once.
 *
 * Epochs: a member's epoch is a group epoch, which never decreases, so an id that rejoins
 * gets an epoch above every earlier incarnation's: nothing from those can match it. The
 * previous epoch is accepted once more when the member owns no more than its assignment
 * (a lost response), as KIP-848 does.
 *
 * Lease rule: a member is dead once `expiresAtMs` (its last heartbeat + session timeout, by
 * the clock of the function that handled that heartbeat) has passed by the clock of the
 * function handling a later request. Clocks need to agree only to well within the session
 * timeout (45 s by default): a skew of s makes a lease look up to s shorter or longer.
 */
import { GROUPS } from '../config/defaults.ts';
import type { ErrorName } from '../errors.ts';
import { assign, ASSIGNORS, type AssignorName, type TopicPartitionKey } from './assignors.ts';
import type { MemberChange } from './store.ts';
import type { GroupMeta, GroupTopic, Member } from './schema.ts';

export interface HeartbeatRequest {
  memberId: string;
  /** 0 to join, -1 to leave, else the epoch the member last received. */
  memberEpoch: number;
  subscribedTopics?: string[];
  /** What the member still owns; undefined means "unchanged since the last heartbeat". */
  ownedPartitions?: TopicPartitionKey[];
  assignor?: AssignorName;
  /** Honoured only when the request creates the group or the group is empty. */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** The member's own; taken on every join. */
  rebalanceTimeoutMs?: number;
}

export interface HeartbeatResponse {
  memberEpoch: number;
  assignment: TopicPartitionKey[];
  heartbeatIntervalMs: number;
  /** The group's session timeout, so a member can stop processing before it is fenced. */
  sessionTimeoutMs: number;
}

type Rejection = { error: Extract<ErrorName, 'UNKNOWN_MEMBER_ID' | 'FENCED_MEMBER_EPOCH' | 'INVALID_REQUEST' | 'GROUP_MAX_SIZE_REACHED'>; message: string };

export type HeartbeatOutcome =
  | ({ kind: 'rejected' } & Rejection)
  | {
      kind: 'accepted';
      /** The answer; a rejection when the write fences the requester itself. */
      response: HeartbeatResponse | Rejection;
      /** The new META, or undefined when it is unchanged. */
      meta: GroupMeta | undefined;
      /** The requester's new item, or undefined when it left. */
      member: Member | undefined;
      /** Other members removed (expired, or the requester leaving) or fenced. */
      others: MemberChange[];
    };

/** True while the member is in the group: its lease runs and it has not been fenced. */
export function isLive(member: Member, nowMs: number): boolean {
  return !member.fenced && member.expiresAtMs >= nowMs;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameTopics(a: readonly GroupTopic[], b: readonly GroupTopic[]): boolean {
  return a.length === b.length && a.every((t, i) => t.name === b[i]?.name && t.topicId === b[i]?.topicId && t.partitions === b[i]?.partitions);
}

/** The assignor most members asked for (ties: the first in ASSIGNORS). */
function groupAssignor(members: readonly Member[], fallback: AssignorName): AssignorName {
  if (members.length === 0) return fallback;
  const votes = ASSIGNORS.map((name) => ({ name, n: members.filter((m) => m.assignor === name).length }));
  return votes.reduce((best, v) => (v.n > best.n ? v : best)).name;
}

/** A new group's META, before anything is written. */
export function newGroupMeta(group: string): GroupMeta {
  return {
    group,
    groupEpoch: 0,
    assignmentEpoch: 0,
    assignor: 'uniform',
    topics: [],
    target: new Map(),
    sessionTimeoutMs: GROUPS.sessionTimeoutMs,
    heartbeatIntervalMs: GROUPS.heartbeatIntervalMs,
    version: 0,
  };
}

function cloneMeta(meta: GroupMeta): GroupMeta {
  return { ...meta, topics: meta.topics.map((t) => ({ ...t })), target: new Map([...meta.target].map(([id, keys]) => [id, [...keys]])) };
}

function tombstone(member: Member): Member {
  return { ...member, fenced: true, assigned: [], revoking: [], revokeDeadlineMs: 0, assignmentVersion: member.assignmentVersion + 1 };
}

function response(meta: GroupMeta, memberEpoch: number, assignment: TopicPartitionKey[]): HeartbeatResponse {
  return { memberEpoch, assignment, heartbeatIntervalMs: meta.heartbeatIntervalMs, sessionTimeoutMs: meta.sessionTimeoutMs };
}

/**
 * Applies one heartbeat to the group as read. `topics` holds every topic any member
 * (including the requester) subscribes to that exists.
 */
export function reconcile(group: string, readMeta: GroupMeta | undefined, readMembers: readonly Member[], request: HeartbeatRequest, topics: ReadonlyMap<string, GroupTopic>, nowMs: number): HeartbeatOutcome {
  const meta = readMeta === undefined ? newGroupMeta(group) : cloneMeta(readMeta);
  const existing = readMembers.find((m) => m.memberId === request.memberId);
  const others: MemberChange[] = [];
  let metaChanged = readMeta === undefined;

  // Sweep: expired members (and fenced tombstones whose lease ran out) go; members past
  // their rebalance timeout are fenced. Bounded per heartbeat: the rest go on the next.
  for (const m of readMembers) {
    if (m.memberId === request.memberId || others.length >= GROUPS.maxSweptPerHeartbeat) continue;
    if (m.expiresAtMs < nowMs) {
      others.push({ read: m, next: undefined });
      if (!m.fenced) metaChanged = true;
    } else if (!m.fenced && m.revoking.length > 0 && m.revokeDeadlineMs < nowMs) {
      others.push({ read: m, next: tombstone(m) });
      metaChanged = true;
    }
  }
  const changed = new Map(others.map((c) => [c.read.memberId, c.next]));
  let live = readMembers.filter((m) => m.memberId !== request.memberId && isLive(changed.has(m.memberId) ? (changed.get(m.memberId) ?? { ...m, expiresAtMs: -1 }) : m, nowMs));

  if (request.memberEpoch === -1) {
    if (existing !== undefined) {
      others.push({ read: existing, next: undefined, unconditional: true });
      if (isLive(existing, nowMs)) metaChanged = true;
    }
    if (!metaChanged) return { kind: 'accepted', response: response(meta, -1, []), meta: undefined, member: undefined, others };
    const rejection = recompute(bumpEpoch(meta), live, topics);
    if (rejection !== undefined) return { kind: 'rejected', ...rejection };
    return { kind: 'accepted', response: response(meta, -1, []), meta: bump(meta), member: undefined, others };
  }

  let member: Member;
  if (request.memberEpoch === 0) {
    if (existing === undefined && live.length >= GROUPS.maxMembers) {
      return { kind: 'rejected', error: 'GROUP_MAX_SIZE_REACHED', message: `Group ${group} has ${live.length} members, the most a group may have (${GROUPS.maxMembers})` };
    }
    if (live.length === 0) {
      // The first member sets the group's timeouts (Kafka takes them from the broker config).
      meta.sessionTimeoutMs = request.sessionTimeoutMs ?? meta.sessionTimeoutMs;
      meta.heartbeatIntervalMs = request.heartbeatIntervalMs ?? meta.heartbeatIntervalMs;
      if (meta.heartbeatIntervalMs >= meta.sessionTimeoutMs) {
        return { kind: 'rejected', error: 'INVALID_REQUEST', message: `heartbeatIntervalMs (${meta.heartbeatIntervalMs}) must be below the group's sessionTimeoutMs (${meta.sessionTimeoutMs})` };
      }
    }
    // A (re)join starts from nothing: whatever an earlier incarnation held is released.
    member = {
      memberId: request.memberId,
      memberEpoch: 0,
      previousMemberEpoch: -1,
      subscribedTopics: [...new Set(request.subscribedTopics ?? [])].sort(),
      assignor: request.assignor ?? 'uniform',
      assigned: [],
      revoking: [],
      revokeDeadlineMs: 0,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs ?? GROUPS.rebalanceTimeoutMs,
      fenced: false,
      assignmentVersion: (existing?.assignmentVersion ?? 0) + 1,
      expiresAtMs: 0,
      lastHeartbeatMs: 0,
      joinedAtMs: nowMs,
    };
    metaChanged = true;
  } else {
    if (existing === undefined || existing.expiresAtMs < nowMs) {
      return { kind: 'rejected', error: 'UNKNOWN_MEMBER_ID', message: `Member ${request.memberId} is not in group ${group}${existing === undefined ? '' : ': its session expired'}; rejoin with memberEpoch 0` };
    }
    if (existing.fenced) {
      return { kind: 'rejected', error: 'FENCED_MEMBER_EPOCH', message: `Member ${request.memberId} was fenced: it did not release revoked partitions within its rebalance timeout (${existing.rebalanceTimeoutMs} ms); rejoin with memberEpoch 0` };
    }
    const lostResponse = request.memberEpoch === existing.previousMemberEpoch && request.ownedPartitions !== undefined && request.ownedPartitions.every((tp) => existing.assigned.includes(tp));
    if (existing.memberEpoch !== request.memberEpoch && !lostResponse) {
      return { kind: 'rejected', error: 'FENCED_MEMBER_EPOCH', message: `Member ${request.memberId} sent epoch ${request.memberEpoch} but its epoch is ${existing.memberEpoch}; rejoin with memberEpoch 0` };
    }
    member = { ...existing, subscribedTopics: [...existing.subscribedTopics], assigned: [...existing.assigned], revoking: [...existing.revoking] };
    if (request.subscribedTopics !== undefined) {
      const subscribed = [...new Set(request.subscribedTopics)].sort();
      if (!sameList(subscribed, member.subscribedTopics)) metaChanged = true;
      member.subscribedTopics = subscribed;
    }
    if (request.assignor !== undefined && request.assignor !== member.assignor) {
      member.assignor = request.assignor;
      metaChanged = true;
    }
    if (request.ownedPartitions !== undefined && member.revoking.length > 0) {
      // Only a report releases: a revoked partition the member no longer lists is free.
      const owned = new Set(request.ownedPartitions);
      const still = member.revoking.filter((tp) => owned.has(tp));
      if (still.length !== member.revoking.length) {
        member.revoking = still;
        member.assignmentVersion += 1;
        if (still.length === 0) member.revokeDeadlineMs = 0;
      }
    }
    if (member.revoking.length > 0 && member.revokeDeadlineMs < nowMs) {
      // Past its rebalance timeout: fenced; what it has not released moves on.
      const fenced = { ...tombstone(member), expiresAtMs: nowMs + meta.sessionTimeoutMs, lastHeartbeatMs: nowMs };
      const rejection = recompute(bumpEpoch(meta), live, topics);
      if (rejection !== undefined) return { kind: 'rejected', ...rejection };
      return {
        kind: 'accepted',
        response: { error: 'FENCED_MEMBER_EPOCH', message: `Member ${request.memberId} did not release ${member.revoking.length} revoked partition(s) within its rebalance timeout (${member.rebalanceTimeoutMs} ms); rejoin with memberEpoch 0` },
        meta: bump(meta),
        member: fenced,
        others,
      };
    }
  }
  member.expiresAtMs = nowMs + meta.sessionTimeoutMs;
  member.lastHeartbeatMs = nowMs;
  live = [...live, member];

  const subscribedTopics = [...new Set(live.flatMap((m) => m.subscribedTopics))].sort();
  const groupTopics = subscribedTopics.flatMap((name) => topics.get(name) ?? []);
  if (!sameTopics(groupTopics, meta.topics)) {
    meta.topics = groupTopics;
    metaChanged = true;
  }
  const assignor = groupAssignor(live, meta.assignor);
  if (assignor !== meta.assignor) {
    meta.assignor = assignor;
    metaChanged = true;
  }
  if (metaChanged) {
    const rejection = recompute(bumpEpoch(meta), live, topics);
    if (rejection !== undefined) return { kind: 'rejected', ...rejection };
  }

  const added = advance(member, meta, live, nowMs);
  return { kind: 'accepted', response: response(meta, member.memberEpoch, [...member.assigned].sort()), meta: metaChanged || added ? bump(meta) : undefined, member, others };
}

/** Moves the requester toward its target (see the table above); true when it was given partitions. */
function advance(member: Member, meta: GroupMeta, live: readonly Member[], nowMs: number): boolean {
  const target = new Set(meta.target.get(member.memberId) ?? []);
  const revoked = member.assigned.filter((tp) => !target.has(tp));
  if (revoked.length > 0) {
    member.assigned = member.assigned.filter((tp) => target.has(tp));
    if (member.revoking.length === 0) member.revokeDeadlineMs = nowMs + member.rebalanceTimeoutMs;
    member.revoking = [...new Set([...member.revoking, ...revoked])].sort();
    member.assignmentVersion += 1;
    return false;
  }
  if (member.revoking.length > 0) return false;
  if (member.memberEpoch !== meta.assignmentEpoch) {
    member.previousMemberEpoch = member.memberEpoch;
    member.memberEpoch = meta.assignmentEpoch;
  }
  const held = new Set(live.filter((m) => m.memberId !== member.memberId).flatMap((m) => [...m.assigned, ...m.revoking]));
  const mine = new Set(member.assigned);
  const add = [...target].filter((tp) => !mine.has(tp) && !held.has(tp));
  if (add.length === 0) return false;
  member.assigned = [...member.assigned, ...add].sort();
  member.assignmentVersion += 1;
  return true;
}

function bumpEpoch(meta: GroupMeta): GroupMeta {
  meta.groupEpoch += 1;
  return meta;
}

/** Recomputes the target for the live members, within the group's size limits. */
function recompute(meta: GroupMeta, live: readonly Member[], topics: ReadonlyMap<string, GroupTopic>): Rejection | undefined {
  const subscribed = new Set(live.flatMap((m) => m.subscribedTopics));
  const groupTopics = [...subscribed].sort().flatMap((name) => topics.get(name) ?? []);
  const partitions = groupTopics.reduce((n, t) => n + t.partitions, 0);
  if (subscribed.size > GROUPS.maxTopics || partitions > GROUPS.maxPartitions) {
    return { error: 'INVALID_REQUEST', message: `Group ${meta.group} would cover ${subscribed.size} topics and ${partitions} partitions; a group may cover at most ${GROUPS.maxTopics} topics and ${GROUPS.maxPartitions} partitions` };
  }
  meta.topics = groupTopics;
  meta.assignor = groupAssignor(live, meta.assignor);
  meta.target = assign(meta.assignor, {
    subscriptions: new Map(live.map((m) => [m.memberId, m.subscribedTopics])),
    partitionCounts: new Map(groupTopics.map((t) => [t.name, t.partitions])),
    current: meta.target,
  });
  meta.assignmentEpoch = meta.groupEpoch;
  return undefined;
}

function bump(meta: GroupMeta): GroupMeta {
  return { ...meta, version: meta.version + 1 };
}
