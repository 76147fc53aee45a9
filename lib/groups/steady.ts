/**
 * The steady heartbeat: a member at its target, in a group with nothing due, only renews its
 * lease. It reads META (without the target) and its own item, and writes its own item on the
 * condition that it has not changed since, so its cost does not grow with the group.
 *
 * Why that is enough, for each rule a full read enforces (reconcile.ts):
 *   at most one owner   a steady heartbeat gives no partition: `atTarget` at the target epoch
 *                       means the member owns exactly its target, and the target changes only
 *                       with a new assignment epoch, which makes the member unsteady;
 *   fencing             the epoch check needs only the member's item; a fence or removal by
 *                       another request changes that item, which fails the conditional write;
 *   expiry, rebalance   before META's nextSweepAtMs no member's lease or revoke deadline has
 *   timeout             passed (reconcile.ts, "Sweep schedule"), so there is nobody to sweep;
 *   topic changes       the group's topics are checked against the (cached) topic metadata of
 *                       META's subscription unions; a difference takes the full path.
 * Anything else (a join, leave, new subscription, revocation, partitions still to receive,
 * a sweep due) answers undefined, and the caller does the full read.
 */
import type { TopicPartitionKey } from './assignors.ts';
import { isLive, response, type HeartbeatRequest, type HeartbeatResponse } from './reconcile.ts';
import { sameTopics } from './subscriptions.ts';
import type { GroupMeta, GroupTopic, Member } from './schema.ts';

/** True when the request could be steady; checked before anything is read. */
export function maySteady(request: HeartbeatRequest): boolean {
  return request.memberEpoch > 0;
}

/** The member's renewed item and the answer, or undefined when a full read is needed. */
export function steadyHeartbeat(meta: GroupMeta | undefined, member: Member | undefined, request: HeartbeatRequest, topics: ReadonlyMap<string, GroupTopic>, nowMs: number): { member: Member; response: HeartbeatResponse } | undefined {
  if (meta === undefined || member === undefined || nowMs >= meta.nextSweepAtMs) return undefined;
  if (!isLive(member, nowMs) || member.atTarget !== true || member.revoking.length > 0) return undefined;
  if (member.memberEpoch !== request.memberEpoch || member.memberEpoch !== meta.assignmentEpoch) return undefined;
  if (request.instanceId !== undefined && request.instanceId !== member.instanceId) return undefined;
  if (request.subscribedTopics !== undefined && !sameNames(request.subscribedTopics, member.subscribedTopics)) return undefined;
  if (request.subscribedTopicRegex !== undefined && (request.subscribedTopicRegex === '' ? undefined : request.subscribedTopicRegex) !== member.subscribedRegex) return undefined;
  if (request.assignor !== undefined && request.assignor !== member.assignor) return undefined;
  if (!sameTopics([...topics.values()].sort((a, b) => (a.name < b.name ? -1 : 1)), meta.topics)) return undefined;
  const next: Member = { ...member, expiresAtMs: nowMs + meta.sessionTimeoutMs, lastHeartbeatMs: nowMs };
  return { member: next, response: response(meta, next.memberEpoch, [...next.assigned].sort() as TopicPartitionKey[]) };
}

function sameNames(requested: readonly string[], stored: readonly string[]): boolean {
  const set = [...new Set(requested)].sort();
  return set.length === stored.length && set.every((x, i) => x === stored[i]);
}
