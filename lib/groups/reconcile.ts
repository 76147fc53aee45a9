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
 * Static members (KIP-345/KIP-848): a member may carry an `instanceId`. A leave at epoch -2
 * keeps its item and assignment until its lease ends; a join with the same instanceId under
 * a new member id then takes the item over (assignment, epoch and target) without a new
 * group epoch, so a rolling restart moves no partition. A join whose instanceId a live member
 * holds that has not left is UNRELEASED_INSTANCE_ID; a heartbeat from a member whose
 * instanceId another member took over is FENCED_INSTANCE_ID.
 *
 * Sweep schedule: META's nextSweepAtMs is never later than any member's lease end or revoke
 * deadline (a full read sets it; a write that sets an earlier deadline lowers it through
 * META's version). Before it, no member needs removing or fencing, so a steady heartbeat
 * (steady.ts) reads only META and its own item.
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
import { effectiveSubscription, sameTopics, topicsOf } from './subscriptions.ts';
import { afterWrite, nextSweepAt, NO_SWEEP_MS } from './sweep-schedule.ts';
import type { GroupMeta, GroupTopic, Member } from './schema.ts';

export interface HeartbeatRequest {
  memberId: string;
  /** 0 to join, -1 to leave, -2 for a static member to leave keeping its assignment, else the epoch the member last received. */
  memberEpoch: number;
  /** group.instance.id: makes the member static. */
  instanceId?: string;
  subscribedTopics?: string[];
  /** undefined: unchanged; '' clears it. Checked by topic-regex.ts on the way in. */
  subscribedTopicRegex?: string;
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

type Rejection = {
  error: Extract<ErrorName, 'UNKNOWN_MEMBER_ID' | 'FENCED_MEMBER_EPOCH' | 'INVALID_REQUEST' | 'GROUP_MAX_SIZE_REACHED' | 'FENCED_INSTANCE_ID' | 'UNRELEASED_INSTANCE_ID'>;
  message: string;
};

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
      /** Other members removed (expired, replaced, or the requester leaving) or fenced. */
      others: MemberChange[];
    };

/** The epoch of a static member that left and keeps its assignment (Kafka's LEAVE_GROUP_STATIC_MEMBER_EPOCH). */
export const STATIC_LEAVE_EPOCH = -2;

/** True while the member is in the group: its lease runs and it has not been fenced. */
export function isLive(member: Member, nowMs: number): boolean {
  return !member.fenced && member.expiresAtMs >= nowMs;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
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
    subscribedNames: [],
    subscribedRegexes: [],
    nextSweepAtMs: NO_SWEEP_MS,
    emptySinceMs: 0,
    targetVersion: 0,
    version: 0,
  };
}

function cloneMeta(meta: GroupMeta): GroupMeta {
  return {
    ...meta,
    topics: meta.topics.map((t) => ({ ...t })),
    target: new Map([...meta.target].map(([id, keys]) => [id, [...keys]])),
    subscribedNames: [...meta.subscribedNames],
    subscribedRegexes: [...meta.subscribedRegexes],
  };
}

function tombstone(member: Member): Member {
  return { ...member, fenced: true, atTarget: false, assigned: [], revoking: [], revokeDeadlineMs: 0, assignmentVersion: member.assignmentVersion + 1 };
}

/** The answer to a heartbeat at `memberEpoch` owning `assignment`. */
export function response(meta: GroupMeta, memberEpoch: number, assignment: TopicPartitionKey[]): HeartbeatResponse {
  return { memberEpoch, assignment, heartbeatIntervalMs: meta.heartbeatIntervalMs, sessionTimeoutMs: meta.sessionTimeoutMs };
}

/** META's unions of the live members' subscriptions and its sweep time, for a META write. */
function settle(meta: GroupMeta, live: readonly Member[], items: readonly Member[], nowMs: number): GroupMeta {
  meta.emptySinceMs = live.length > 0 ? 0 : meta.emptySinceMs === 0 ? nowMs : meta.emptySinceMs;
  meta.subscribedNames = [...new Set(live.flatMap((m) => m.subscribedTopics))].sort();
  meta.subscribedRegexes = [...new Set(live.flatMap((m) => m.subscribedRegex ?? []))].sort();
  meta.nextSweepAtMs = nextSweepAt(items);
  return bump(meta);
}

/**
 * Applies one heartbeat to the group as read. `topics` holds every topic any member
 * (including the requester) subscribes to, explicitly or by regex, that exists.
 */
export function reconcile(group: string, readMeta: GroupMeta | undefined, readMembers: readonly Member[], request: HeartbeatRequest, topics: ReadonlyMap<string, GroupTopic>, nowMs: number): HeartbeatOutcome {
  const meta = readMeta === undefined ? newGroupMeta(group) : cloneMeta(readMeta);
  const existing = readMembers.find((m) => m.memberId === request.memberId);
  const others: MemberChange[] = [];
  // metaChanged: a new group epoch and target. metaDirty: META changes without one.
  let metaChanged = readMeta === undefined;
  let metaDirty = false;

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
  // Another live member holding the requester's instance id.
  const holder = request.instanceId === undefined ? undefined : live.find((m) => m.instanceId === request.instanceId);

  if (request.memberEpoch === STATIC_LEAVE_EPOCH && existing !== undefined && isLive(existing, nowMs) && existing.memberEpoch !== STATIC_LEAVE_EPOCH) {
    if (existing.instanceId === undefined || existing.instanceId !== request.instanceId) {
      return { kind: 'rejected', error: 'INVALID_REQUEST', message: `Member ${request.memberId} is not the static member with instance id ${JSON.stringify(request.instanceId)}; only a static member leaves with memberEpoch -2` };
    }
    // It stays a live member holding its assignment; its epoch moves to -2, so a late commit
    // or heartbeat of this incarnation is refused.
    const left: Member = { ...existing, memberEpoch: STATIC_LEAVE_EPOCH, previousMemberEpoch: existing.memberEpoch, atTarget: false, assignmentVersion: existing.assignmentVersion + 1, expiresAtMs: nowMs + meta.sessionTimeoutMs, lastHeartbeatMs: nowMs };
    const answer = response(meta, STATIC_LEAVE_EPOCH, []);
    if (!metaChanged) return { kind: 'accepted', response: answer, meta: undefined, member: left, others };
    const rejection = recompute(bumpEpoch(meta), [...live, left], topics);
    if (rejection !== undefined) return { kind: 'rejected', ...rejection };
    return { kind: 'accepted', response: answer, meta: settle(meta, [...live, left], afterWrite(readMembers, others, left), nowMs), member: left, others };
  }
  if (request.memberEpoch === -1 || request.memberEpoch === STATIC_LEAVE_EPOCH) {
    // -1, or a -2 that finds nothing to keep (already left, or gone): the member goes.
    if (existing !== undefined && !(request.memberEpoch === STATIC_LEAVE_EPOCH && existing.memberEpoch === STATIC_LEAVE_EPOCH && isLive(existing, nowMs))) {
      others.push({ read: existing, next: undefined, unconditional: true });
      if (isLive(existing, nowMs)) metaChanged = true;
    }
    if (!metaChanged) return { kind: 'accepted', response: response(meta, request.memberEpoch, []), meta: undefined, member: undefined, others };
    const rejection = recompute(bumpEpoch(meta), live, topics);
    if (rejection !== undefined) return { kind: 'rejected', ...rejection };
    return { kind: 'accepted', response: response(meta, request.memberEpoch, []), meta: settle(meta, live, afterWrite(readMembers, others, undefined), nowMs), member: undefined, others };
  }

  let member: Member;
  if (request.memberEpoch === 0) {
    if (holder !== undefined && holder.memberEpoch !== STATIC_LEAVE_EPOCH) {
      return { kind: 'rejected', error: 'UNRELEASED_INSTANCE_ID', message: `Static member ${request.memberId} with instance id ${JSON.stringify(request.instanceId)} cannot join group ${group}: member ${holder.memberId} holds that instance id and has not left` };
    }
    if (existing === undefined && holder === undefined && live.length >= GROUPS.maxMembers) {
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
    const subscribedTopics = [...new Set(request.subscribedTopics ?? [])].sort();
    const subscribedRegex = request.subscribedTopicRegex === undefined || request.subscribedTopicRegex === '' ? undefined : request.subscribedTopicRegex;
    const assignmentVersion = Math.max(existing?.assignmentVersion ?? 0, holder?.assignmentVersion ?? 0) + 1;
    if (holder !== undefined) {
      // A static member back under a new member id: it takes over what the instance held,
      // at the same epoch and target, so nothing moves (Kafka's replaceMember).
      member = {
        ...holder,
        memberId: request.memberId,
        memberEpoch: holder.previousMemberEpoch,
        previousMemberEpoch: -1,
        subscribedTopics,
        subscribedRegex,
        assignor: request.assignor ?? holder.assignor,
        rebalanceTimeoutMs: request.rebalanceTimeoutMs ?? holder.rebalanceTimeoutMs,
        assignmentVersion,
        joinedAtMs: nowMs,
      };
      others.push({ read: holder, next: undefined });
      live = live.filter((m) => m !== holder);
      const target = meta.target.get(holder.memberId);
      meta.target.delete(holder.memberId);
      if (target !== undefined) meta.target.set(member.memberId, target);
      meta.targetVersion = meta.version + 1;
      metaDirty = true;
      if (!sameList(subscribedTopics, holder.subscribedTopics) || subscribedRegex !== holder.subscribedRegex || member.assignor !== holder.assignor) metaChanged = true;
    } else {
      // A (re)join starts from nothing: whatever an earlier incarnation held is released.
      member = {
        memberId: request.memberId,
        ...(request.instanceId === undefined ? {} : { instanceId: request.instanceId }),
        memberEpoch: 0,
        previousMemberEpoch: -1,
        subscribedTopics,
        subscribedRegex,
        assignor: request.assignor ?? 'uniform',
        assigned: [],
        revoking: [],
        revokeDeadlineMs: 0,
        rebalanceTimeoutMs: request.rebalanceTimeoutMs ?? GROUPS.rebalanceTimeoutMs,
        fenced: false,
        atTarget: false,
        assignmentVersion,
        expiresAtMs: 0,
        lastHeartbeatMs: 0,
        joinedAtMs: nowMs,
      };
      metaChanged = true;
    }
  } else {
    if (holder !== undefined) {
      return { kind: 'rejected', error: 'FENCED_INSTANCE_ID', message: `Static member ${request.memberId} with instance id ${JSON.stringify(request.instanceId)} was fenced: member ${holder.memberId} took that instance id over; stop, or rejoin under a new instance id` };
    }
    if (existing === undefined || existing.expiresAtMs < nowMs) {
      return { kind: 'rejected', error: 'UNKNOWN_MEMBER_ID', message: `Member ${request.memberId} is not in group ${group}${existing === undefined ? '' : ': its session expired'}; rejoin with memberEpoch 0` };
    }
    if (existing.fenced) {
      return { kind: 'rejected', error: 'FENCED_MEMBER_EPOCH', message: `Member ${request.memberId} was fenced: it did not release revoked partitions within its rebalance timeout (${existing.rebalanceTimeoutMs} ms); rejoin with memberEpoch 0` };
    }
    const lostResponse = request.memberEpoch === existing.previousMemberEpoch && existing.memberEpoch !== STATIC_LEAVE_EPOCH && request.ownedPartitions !== undefined && request.ownedPartitions.every((tp) => existing.assigned.includes(tp));
    if (existing.memberEpoch !== request.memberEpoch && !lostResponse) {
      return { kind: 'rejected', error: 'FENCED_MEMBER_EPOCH', message: `Member ${request.memberId} sent epoch ${request.memberEpoch} but its epoch is ${existing.memberEpoch}; rejoin with memberEpoch 0` };
    }
    member = { ...existing, subscribedTopics: [...existing.subscribedTopics], assigned: [...existing.assigned], revoking: [...existing.revoking] };
    if (request.subscribedTopics !== undefined) {
      const subscribed = [...new Set(request.subscribedTopics)].sort();
      if (!sameList(subscribed, member.subscribedTopics)) metaChanged = true;
      member.subscribedTopics = subscribed;
    }
    if (request.subscribedTopicRegex !== undefined) {
      const regex = request.subscribedTopicRegex === '' ? undefined : request.subscribedTopicRegex;
      if (regex !== member.subscribedRegex) metaChanged = true;
      member.subscribedRegex = regex;
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
        meta: settle(meta, live, afterWrite(readMembers, others, fenced), nowMs),
        member: fenced,
        others,
      };
    }
  }
  member.expiresAtMs = nowMs + meta.sessionTimeoutMs;
  member.lastHeartbeatMs = nowMs;
  live = [...live, member];

  const groupTopics = topicsOf(live, topics);
  if (!sameTopics(groupTopics, meta.topics)) metaChanged = true;
  if (groupAssignor(live, meta.assignor) !== meta.assignor) metaChanged = true;
  const names = [...new Set(live.flatMap((m) => m.subscribedTopics))].sort();
  const regexes = [...new Set(live.flatMap((m) => m.subscribedRegex ?? []))].sort();
  if (!sameList(names, meta.subscribedNames) || !sameList(regexes, meta.subscribedRegexes)) metaDirty = true;
  if (metaChanged) {
    const rejection = recompute(bumpEpoch(meta), live, topics);
    if (rejection !== undefined) return { kind: 'rejected', ...rejection };
  }

  const deadlineBefore = member.revokeDeadlineMs;
  const added = advance(member, meta, live, nowMs);
  // A new revoke deadline goes through META, so no concurrent full read computes a later sweep time.
  if (member.revokeDeadlineMs !== 0 && member.revokeDeadlineMs !== deadlineBefore) metaDirty = true;
  const items = afterWrite(readMembers, others, member);
  const nextSweep = nextSweepAt(items);
  if (nextSweep !== meta.nextSweepAtMs && (readMeta === undefined || readMeta.nextSweepAtMs <= nowMs || nextSweep < meta.nextSweepAtMs)) metaDirty = true;
  const write = metaChanged || added || metaDirty;
  return { kind: 'accepted', response: response(meta, member.memberEpoch, [...member.assigned].sort()), meta: write ? settle(meta, live, items, nowMs) : undefined, member, others };
}

function sameSet(a: readonly string[], b: ReadonlySet<string>): boolean {
  return a.length === b.size && a.every((x) => b.has(x));
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
    member.atTarget = false;
    return false;
  }
  if (member.revoking.length > 0) {
    member.atTarget = false;
    return false;
  }
  if (member.memberEpoch !== meta.assignmentEpoch) {
    member.previousMemberEpoch = member.memberEpoch;
    member.memberEpoch = meta.assignmentEpoch;
  }
  const held = new Set(live.filter((m) => m.memberId !== member.memberId).flatMap((m) => [...m.assigned, ...m.revoking]));
  const mine = new Set(member.assigned);
  const add = [...target].filter((tp) => !mine.has(tp) && !held.has(tp));
  if (add.length > 0) {
    member.assigned = [...member.assigned, ...add].sort();
    member.assignmentVersion += 1;
  }
  member.atTarget = sameSet(member.assigned, target);
  return add.length > 0;
}

function bumpEpoch(meta: GroupMeta): GroupMeta {
  meta.groupEpoch += 1;
  return meta;
}

/** Recomputes the target for the live members, within the group's size limits. */
function recompute(meta: GroupMeta, live: readonly Member[], topics: ReadonlyMap<string, GroupTopic>): Rejection | undefined {
  const subscriptions = new Map(live.map((m) => [m.memberId, effectiveSubscription(m, topics)]));
  const subscribed = new Set([...subscriptions.values()].flat());
  const groupTopics = topicsOf(live, topics);
  const partitions = groupTopics.reduce((n, t) => n + t.partitions, 0);
  if (subscribed.size > GROUPS.maxTopics || partitions > GROUPS.maxPartitions) {
    return { error: 'INVALID_REQUEST', message: `Group ${meta.group} would cover ${subscribed.size} topics and ${partitions} partitions; a group may cover at most ${GROUPS.maxTopics} topics and ${GROUPS.maxPartitions} partitions` };
  }
  meta.topics = groupTopics;
  meta.assignor = groupAssignor(live, meta.assignor);
  meta.target = assign(meta.assignor, {
    subscriptions,
    partitionCounts: new Map(groupTopics.map((t) => [t.name, t.partitions])),
    current: meta.target,
  });
  meta.assignmentEpoch = meta.groupEpoch;
  // This write's version (bump adds one): the target is stored with it.
  meta.targetVersion = meta.version + 1;
  return undefined;
}

function bump(meta: GroupMeta): GroupMeta {
  return { ...meta, version: meta.version + 1 };
}
