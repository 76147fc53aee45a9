/**
 * Group commit: a partition's append rate that grows with its writers. One transaction on
 * the head commits every draft that waits for it, so N contending writers cost about one
 * round trip per N appends instead of N lost races each.
 *
 *   writer A:  PUT obj-A ─► TX(head 40→41, S#40→A) ✓ ─► ack 40
 *   writer B:  PUT obj-B ─► TX(head 40→41) ✗ head=41 ─► leave W#…B ─┐
 *   writer C:  PUT obj-C ─► TX(head 40→41) ✗ head=41 ─► leave W#…C ─┤
 *   writer D:  PUT obj-D ─► look: W#…B, W#…C ─► TX(head 41→44, S#41→B, S#42→C, S#43→D,
 *                                                   W#…B.base=41, W#…C.base=42) ✓ ─► ack 43
 *   writer B, C:  look (or their own TX fails on W#…) ─► base 41, 42 ─► remove W#… ─► ack
 *
 * Every writer is a potential combiner: a waiting writer keeps looking, and if nobody has
 * adopted its draft it commits it itself, adopting the others'. Each draft, whoever
 * commits it, goes in on the condition that its W# item is uncommitted, and sets its
 * offset there in the same transaction, so a draft is committed at most once. The writer
 * whose own commit fails on that condition reads the winner's offset from ALL_OLD.
 *
 * What the cross-instance protocol keeps from sequencer.ts: the head's compare-and-set
 * (dense offsets), the topic check, each idempotent producer's state condition (a draft
 * refused there is simply not adopted; its own writer hears the verdict), and the
 * acknowledgement only after the commit.
 */
import { randomUUID } from 'node:crypto';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { SEQUENCER } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import { backoffDelayMs, sleep } from '../retry.ts';
import type { Storage } from '../storage/clients.ts';
import { cancellationReasons, isThrottle } from '../storage/conditions.ts';
import { draftWrites, headHint, type HeadHint, headWrite, rememberHead, reportedHead, topicGone, topicIsLive, type CommittedSegment, type LiveTopic, type SegmentDraft } from './commit-writes.ts';
import { MAX_TRANSACTION_ITEMS } from './commit-groups.ts';
import { issuedCheck, unissued } from './producer-ids.ts';
import { judgeProducer, storedStateFromAttributes, type ProducerIdentity } from './producer-state.ts';
import { commitWaiting, committedBaseOf, leaveDrafts, lookForWaiting, removeWaiting, withdrawDraft, type WaitingDraft } from './waiting-drafts.ts';
import { tally } from '../observability/metrics.ts';

/** Test seams for crash injection between the steps of a group commit. */
export interface GroupCommitHooks {
  /** After a transaction lost the race for the head, before anything else. */
  afterLostRace?: () => Promise<void>;
  /** After a writer that lost the race has left its drafts in the table. */
  afterDraftLeft?: () => Promise<void>;
  /** After a transaction committed (possibly others' drafts too), before its writer answers. */
  afterCommit?: () => Promise<void>;
  /** After a waiting writer learnt its offset, before it removes its item. */
  afterOffsetLearnt?: () => Promise<void>;
}

/**
 * Until when this process looks for waiting drafts before committing, per partition: set
 * by a lost race. A hint only; a writer that does not look leaves waiting drafts to their
 * own writers, who commit them themselves.
 */
const contendedUntil = new Map<string, number>();

/** A draft of this process's, with the caller waiting for its outcome. */
export interface Own {
  draft: SegmentDraft;
  hooks: GroupCommitHooks;
  resolve(segment: CommittedSegment): void;
  reject(error: unknown): void;
  /** Its W# item, once left in the table. */
  waiting?: WaitingDraft;
}

/** One draft in a transaction: ours, or adopted from the table. */
interface Member {
  draft: SegmentDraft;
  waitingSk?: string;
  own?: Own;
  createdAtMs: number;
}

type Slot = { kind: 'topic' | 'issued' | 'head' | 'entry' } | { kind: 'producer' | 'waiting'; member: Member };

/**
 * Commits `batch` (drafts of one partition, at most one per idempotent producer and one
 * producer met at sequence 0: commit-queue.ts takes them so), adopting drafts waiting in the
 * table, and settles each own draft exactly once. A retry after a lost race also carries
 * what `more` hands it (drafts queued meanwhile, under the same rules).
 */
export async function commitBatch(storage: Storage, topic: LiveTopic, pk: string, batch: Own[], more: (pending: readonly Own[]) => Own[] = () => []): Promise<void> {
  const hooks = (batch[0] as Own).hooks;
  let pending = [...batch];
  let head = await headHint(storage, pk);
  const deadline = Date.now() + SEQUENCER.groupCommitDeadlineMs;
  let waiting = (contendedUntil.get(pk) ?? 0) > Date.now() ? await lookForWaiting(storage, pk) : [];
  const notAdoptable = new Set<string>();
  let lostInARow = 0;

  const settled = (own: Own) => {
    pending = pending.filter((o) => o !== own);
  };
  /** An own draft committed (by us or by an adopter) at `base`. */
  const learnt = async (own: Own, base: number): Promise<void> => {
    settled(own);
    if (own.waiting !== undefined) {
      await hooks.afterOffsetLearnt?.();
      await removeWaiting(storage, pk, [own.waiting.sk]);
    }
    own.resolve({ baseOffset: base, before: head, after: head, duplicate: false, ...(own.draft.logAppendTimeMs === undefined ? {} : { logAppendTimeMs: own.draft.logAppendTimeMs }) });
  };
  /** Refuses an own draft with `error`, unless it was committed meanwhile: then that is the answer. */
  const refuse = async (own: Own, error: unknown): Promise<void> => {
    const base = own.waiting === undefined ? undefined : await withdrawDraft(storage, pk, own.waiting.sk);
    if (base !== undefined) return learnt(own, base);
    settled(own);
    own.reject(error);
  };

  for (let attempt = 0; pending.length > 0; attempt++) {
    const now = Date.now();
    for (const own of [...pending]) {
      const seen = own.waiting === undefined ? undefined : waiting.find((w) => w.sk === own.waiting?.sk);
      if (seen?.baseOffset !== undefined) await learnt(own, seen.baseOffset);
    }
    if (pending.length === 0) return;
    // Before any draft waits in the table (whose deadline the newcomers would inherit).
    if (attempt > 0 && pending.every((own) => own.waiting === undefined)) pending.push(...more(pending));
    const members = combine(pending, waiting, notAdoptable, now);
    const slots: Slot[] = [{ kind: 'topic' }, { kind: 'head' }];
    const advance = { offsets: 0, bytes: 0, segments: members.length };
    for (const m of members) {
      advance.offsets += m.draft.offsetCount;
      advance.bytes += m.draft.byteLength;
    }
    const items: Array<Record<string, unknown>> = [topicIsLive(storage, topic), headWrite(storage, pk, head.nextOffset, advance)];
    const starting = pending.find((o) => o.draft.producer?.firstSequence === 0);
    if (starting !== undefined) {
      slots.push({ kind: 'issued' });
      items.push(issuedCheck(storage, (starting.draft.producer as ProducerIdentity).producerId));
    }
    const bases = new Map<Member, number>();
    let base = head.nextOffset;
    for (const m of members) {
      bases.set(m, base);
      slots.push({ kind: 'entry' }, ...(m.draft.producer === undefined ? [] : [{ kind: 'producer' as const, member: m }]));
      items.push(...draftWrites(storage, pk, base, m.draft, now));
      if (m.waitingSk !== undefined) {
        slots.push({ kind: 'waiting', member: m });
        items.push(commitWaiting(storage, pk, m.waitingSk, base, m.own === undefined ? now : undefined));
      }
      base += m.draft.offsetCount;
    }
    try {
      await storage.ddb.send(new TransactWriteCommand({ TransactItems: items as never, ClientRequestToken: randomUUID() }));
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (reasons === undefined && !isThrottle(error)) throw error;
      let lostRace = reasons === undefined || reasons.some((r) => r.Code !== undefined && r.Code !== 'None' && r.Code !== 'ConditionalCheckFailed');
      for (const [index, reason] of (reasons ?? []).entries()) {
        const slot = slots[index];
        if (reason.Code !== 'ConditionalCheckFailed' || slot === undefined) continue;
        if (slot.kind === 'topic') {
          for (const own of [...pending]) await refuse(own, topicGone(topic));
          return;
        }
        if (slot.kind === 'issued') await refuse(starting as Own, unissued((starting?.draft.producer as ProducerIdentity).producerId));
        else if (slot.kind === 'head') {
          head = reportedHead(reason.Item);
          rememberHead(pk, head);
          lostRace = true;
        } else if (slot.kind === 'waiting' || slot.kind === 'producer') {
          const own = slot.member.own;
          if (own === undefined) {
            // Committed, withdrawn or refused meanwhile: not ours to commit. Its writer hears.
            notAdoptable.add(slot.member.waitingSk as string);
          } else if (!pending.includes(own)) {
            // Already settled by another slot of this answer.
          } else if (slot.kind === 'waiting') {
            const committedAt = committedBaseOf(reason.Item);
            if (committedAt === undefined) throw new Error(`Waiting draft ${slot.member.waitingSk} vanished before its writer learnt its outcome`);
            await learnt(own, committedAt);
          } else {
            const verdict = judgeProducer(own.draft.partition, own.draft.producer as ProducerIdentity, storedStateFromAttributes(reason.Item));
            if (verdict.kind === 'refused') await refuse(own, verdict.error);
            else if (verdict.kind === 'duplicate') {
              const committedAt = own.waiting === undefined ? undefined : await withdrawDraft(storage, pk, own.waiting.sk);
              if (committedAt !== undefined) await learnt(own, committedAt);
              else {
                settled(own);
                const { baseOffset, logAppendTimeMs } = verdict.of;
                own.resolve({ baseOffset, before: head, after: head, duplicate: true, ...(logAppendTimeMs === undefined ? {} : { logAppendTimeMs }) });
              }
            } else lostRace = true;
          }
        }
      }
      if (!lostRace) continue;
      tally('AppendConflicts', { topic: topic.name });
      contendedUntil.set(pk, Date.now() + SEQUENCER.contentionMemoryMs);
      await hooks.afterLostRace?.();
      // One lost race is often only a stale head hint (another instance appended since):
      // retry at once from the head it reported, without looking again. Two in a row is
      // contention: wait in the table, then look.
      if (++lostInARow < 2) continue;
      await waitOrTakeOver(storage, pk, pending, hooks, attempt, deadline, learnt, refuse);
      if (pending.length === 0) return;
      waiting = await lookForWaiting(storage, pk);
      continue;
    }
    await hooks.afterCommit?.();
    // Each own draft reports the partition's growth since the previous own draft (adopted
    // drafts' counted with the own draft after them, or the last), so a compaction trigger
    // (a multiple of segments crossed) fires once per crossing, not once per draft carried.
    const grown = new Map<Member, { before: HeadHint; after: HeadHint }>();
    let from: HeadHint = head;
    let sizes: HeadHint = head;
    let last: Member | undefined;
    for (const m of members) {
      sizes = { nextOffset: sizes.nextOffset + m.draft.offsetCount, segments: sizes.segments + 1, bytes: sizes.bytes + m.draft.byteLength };
      if (m.own === undefined) continue;
      grown.set(m, { before: from, after: sizes });
      from = sizes;
      last = m;
    }
    if (last !== undefined) grown.set(last, { before: (grown.get(last) as { before: HeadHint }).before, after: sizes });
    head = { nextOffset: base, segments: head.segments + advance.segments, bytes: head.bytes + advance.bytes };
    rememberHead(pk, head);
    const left = pending.flatMap((own) => (own.waiting === undefined ? [] : [own.waiting.sk]));
    if (left.length > 0) await removeWaiting(storage, pk, left);
    for (const m of members) {
      if (m.own === undefined) continue;
      const segment = { baseOffset: bases.get(m) as number, ...(grown.get(m) as { before: HeadHint; after: HeadHint }), duplicate: false };
      m.own.resolve(m.draft.logAppendTimeMs === undefined ? segment : { ...segment, logAppendTimeMs: m.draft.logAppendTimeMs });
    }
    return;
  }
}

/**
 * After a lost race: leaves the batch's drafts in the table (once), then waits to be
 * adopted, reading their items, until some are committed by others or it is time to take
 * over. A producer met at sequence 0 cannot be adopted; a batch holding one backs off.
 */
async function waitOrTakeOver(
  storage: Storage,
  pk: string,
  pending: readonly Own[],
  hooks: GroupCommitHooks,
  attempt: number,
  deadline: number,
  learnt: (own: Own, base: number) => Promise<void>,
  refuse: (own: Own, error: unknown) => Promise<void>,
): Promise<void> {
  const throttled = () => new SluiceError('THROTTLING_QUOTA_EXCEEDED', 'Too many concurrent appends to this partition; retry after a short wait', { retryAfterSeconds: SEQUENCER.retryAfterSeconds });
  const leave = pending.filter((own) => own.waiting === undefined && own.draft.producer?.firstSequence !== 0);
  if (leave.length > 0) {
    const left = await leaveDrafts(storage, pk, leave.map((own) => own.draft));
    leave.forEach((own, i) => (own.waiting = left[i]));
    await hooks.afterDraftLeft?.();
  }
  if (pending.some((own) => own.waiting === undefined)) {
    if (Date.now() >= deadline) for (const own of [...pending]) await refuse(own, throttled());
    else await sleep(backoffDelayMs(Math.min(attempt, 8), { baseMs: SEQUENCER.groupCommitBackoffBaseMs, capMs: SEQUENCER.groupCommitBackoffCapMs }));
    return;
  }
  const takeoverAtMs = Date.now() + SEQUENCER.groupCommitTakeoverMs * (1 + Math.random());
  for (;;) {
    if (Date.now() >= deadline) {
      for (const own of [...pending]) await refuse(own, throttled());
      return;
    }
    await sleep(SEQUENCER.groupCommitPollMs * (0.5 + Math.random()));
    // One Query shows every waiting draft of the partition, ours with their offsets once committed.
    const seen = new Map((await lookForWaiting(storage, pk)).map((w) => [w.sk, w.baseOffset]));
    let any = false;
    for (const own of [...pending]) {
      const base = seen.get((own.waiting as WaitingDraft).sk);
      if (base === undefined) continue;
      any = true;
      await learnt(own, base);
    }
    if (any || Date.now() >= takeoverAtMs) return;
  }
}

/**
 * The drafts of one transaction, oldest first: ours and the uncommitted, unexpired waiting
 * drafts of other writers, at most one per idempotent producer (its state item may appear
 * once in a transaction), none met at sequence 0 (only its own writer makes the issued
 * check), and SEQUENCER.maxAdoptedDrafts adopted in all.
 */
function combine(pending: readonly Own[], waiting: readonly WaitingDraft[], notAdoptable: ReadonlySet<string>, now: number): Member[] {
  const ownSks = new Set(pending.flatMap((own) => (own.waiting === undefined ? [] : [own.waiting.sk])));
  const producers = new Set<bigint>(pending.flatMap((own) => (own.draft.producer === undefined ? [] : [own.draft.producer.producerId])));
  const members: Member[] = pending.map((own) => ({ draft: own.draft, own, createdAtMs: own.waiting?.createdAtMs ?? now, ...(own.waiting === undefined ? {} : { waitingSk: own.waiting.sk }) }));
  // DynamoDB's 100 items: the topic check, the head and the issued check, then per draft its entry, producer state and waiting item.
  let budget = MAX_TRANSACTION_ITEMS - 3 - members.reduce((n, m) => n + itemsOfMember(m), 0);
  let adopted = 0;
  for (const w of waiting) {
    if (adopted >= SEQUENCER.maxAdoptedDrafts || budget < 3) break;
    if (ownSks.has(w.sk) || w.baseOffset !== undefined || w.expiresAtMs <= now || notAdoptable.has(w.sk)) continue;
    const producer = w.draft.producer;
    if (producer !== undefined && (producer.firstSequence === 0 || producers.has(producer.producerId))) continue;
    if (producer !== undefined) producers.add(producer.producerId);
    members.push({ draft: w.draft, waitingSk: w.sk, createdAtMs: w.createdAtMs });
    budget -= 3;
    adopted++;
  }
  // Oldest first; the sort is stable, so this process's drafts keep their queue order.
  return members.sort((a, b) => a.createdAtMs - b.createdAtMs);
}

function itemsOfMember(member: Member): number {
  return 1 + (member.draft.producer === undefined ? 0 : 1) + (member.waitingSk === undefined ? 0 : 1);
}
