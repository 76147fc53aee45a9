/**
 * When a full read of the group is next due (META's nextSweepAtMs; see reconcile.ts,
 * "Sweep schedule"): the earliest lease end or revoke deadline among the member items.
 */
import type { Member } from './schema.ts';
import type { MemberChange } from './store.ts';

/** nextSweepAtMs of a group with no members: nothing is ever due. */
export const NO_SWEEP_MS = Number.MAX_SAFE_INTEGER;

/** The earliest deadline among the member items as they will be after the write (see "Sweep schedule"). */
export function nextSweepAt(items: readonly Member[]): number {
  let next = NO_SWEEP_MS;
  for (const m of items) {
    next = Math.min(next, m.expiresAtMs);
    if (!m.fenced && m.revoking.length > 0) next = Math.min(next, m.revokeDeadlineMs);
  }
  return next;
}

/** The member items as they will be once the write lands: the read, with `others` applied and the requester's new item. */
export function afterWrite(readMembers: readonly Member[], others: readonly MemberChange[], requester: Member | undefined): Member[] {
  const changes = new Map(others.map((c) => [c.read.memberId, c.next]));
  const items = readMembers.flatMap((m) => {
    if (m.memberId === requester?.memberId) return [];
    if (!changes.has(m.memberId)) return [m];
    const next = changes.get(m.memberId);
    return next === undefined ? [] : [next];
  });
  return requester === undefined ? items : [...items, requester];
}

