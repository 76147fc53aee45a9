/**
 * The sequencer: turns objects already written to S3 into offsets, with one DynamoDB
 * transaction per attempt. For every partition in the request the transaction
 *
 *   1. advances the head:   nextOffset := read + recordCount   IF nextOffset = read
 *   2. inserts the entry:   S#<lastOffset> → object, byte range  IF it does not exist
 *
 * so offsets are dense and assigned once (invariant 1): of two writers that read the same
 * head, exactly one commits and the other learns the new head from the failed condition
 * (ReturnValuesOnConditionCheckFailure = ALL_OLD, no second read) and tries again after a
 * jittered backoff. All partitions in one transaction commit together or not at all, and
 * only while the topic incarnation they belong to is live (a ConditionCheck on the topic
 * item in the same transaction: no extra round trip).
 *
 *   writer A:  PUT obj-A ──► TX(head 40→42, S#41→obj-A) ✓ ──► ack [40,41]
 *   writer B:  PUT obj-B ──► TX(head 40→43, …) ✗ head=42 ──► TX(head 42→45, S#44→obj-B) ✓ ──► ack
 *
 * Single-partition commits go through group commit instead (group-commit.ts): the same
 * transaction, carrying every draft waiting for the partition.
 *
 * A crash before the transaction leaves an unreferenced object (collected as an orphan);
 * a crash after it leaves a committed, unacknowledged append, which the producer's retry
 * may duplicate, as with a Kafka producer without idempotence.
 */
import { randomUUID } from 'node:crypto';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { SEQUENCER } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import { backoffDelayMs, sleep } from '../retry.ts';
import type { Storage } from '../storage/clients.ts';
import { cancellationReasons, isThrottle } from '../storage/conditions.ts';
import { partitionPk } from '../storage/schema.ts';
import { issuedCheck, unissued as unissuedId } from './producer-ids.ts';
import { judgeProducer, storedStateFromAttributes, type ProducerIdentity } from './producer-state.ts';
import { draftWrites, headHint, headWrite, rememberHead, reportedHead, topicGone, topicIsLive, type CommittedSegment, type HeadHint, type LiveTopic, type SegmentDraft } from './commit-writes.ts';
import { commitCombining } from './commit-queue.ts';
import type { GroupCommitHooks } from './group-commit.ts';
import { tally } from '../observability/metrics.ts';

export type { ProducerIdentity } from './producer-state.ts';
export type { CommittedSegment, LiveTopic, SegmentDraft } from './commit-writes.ts';
export { forgetKnownHeads } from './commit-writes.ts';
export type { GroupCommitHooks } from './group-commit.ts';

/**
 * Group commit for single-partition commits (group-commit.ts); `SLUICE_GROUP_COMMIT=off`
 * sends them through the one-draft-per-transaction loop below instead, which is how every
 * commit worked before, and turns segment combining off (append.ts). A switch for `npm run bench` to measure both in one run.
 */
export const groupCommit = process.env.SLUICE_GROUP_COMMIT?.trim() !== 'off';

/** One transaction item's role, to read its cancellation reason. */
type Slot = { kind: 'topic' } | { kind: 'issued'; producerId: bigint } | { kind: 'head' | 'entry' | 'producer'; draft: number };

/**
 * Commits `drafts` (at most one per partition, and no more than planCommitGroups puts in
 * one transaction) to the live incarnation `topic` and returns each draft's base offset, in
 * order, all in one transaction. Retries lost races; after SEQUENCER.maxAttempts answers
 * THROTTLING_QUOTA_EXCEEDED (retriable), having committed nothing. Drafts of an idempotent
 * producer also advance its state in the same transaction, conditioned on the sequence
 * following the last committed one: a retry of a batch already committed is answered with
 * the original offsets and LogAppendTime instead of appended twice (Kafka's KIP-98).
 * Throws a SluiceError only when nothing was committed.
 */
export async function commitSegments(storage: Storage, topic: LiveTopic, drafts: readonly SegmentDraft[], hooks: GroupCommitHooks = {}): Promise<CommittedSegment[]> {
  const [only] = drafts;
  if (groupCommit && drafts.length === 1 && only !== undefined) return [await commitCombining(storage, topic, only, hooks)];
  const pks = drafts.map((d) => partitionPk(topic.topicId, d.partition));
  const heads = await Promise.all(pks.map(async (pk) => headHint(storage, pk)));
  const results: Array<CommittedSegment | undefined> = drafts.map(() => undefined);
  for (let attempt = 0; attempt < SEQUENCER.maxAttempts; attempt++) {
    const now = Date.now();
    const pending = drafts.flatMap((draft, i) => (results[i] === undefined ? [i] : []));
    if (pending.length === 0) return results as CommittedSegment[];
    const slots: Slot[] = [{ kind: 'topic' }];
    const items: Array<Record<string, unknown>> = [topicIsLive(storage, topic)];
    // One check covers every producer met at sequence 0: the counter item may appear only
    // once in a transaction, and the largest id was issued only if all smaller ones were.
    const starting = pending.flatMap((i) => (drafts[i]?.producer?.firstSequence === 0 ? [drafts[i]?.producer?.producerId as bigint] : []));
    if (starting.length > 0) {
      const producerId = starting.reduce((max, id) => (id > max ? id : max));
      slots.push({ kind: 'issued', producerId });
      items.push(issuedCheck(storage, producerId));
    }
    for (const i of pending) {
      const draft = drafts[i] as SegmentDraft;
      const pk = pks[i] as string;
      const base = (heads[i] as HeadHint).nextOffset;
      const writes = [headWrite(storage, pk, base, { offsets: draft.offsetCount, bytes: draft.byteLength, segments: 1 }), ...draftWrites(storage, pk, base, draft, now)];
      slots.push({ kind: 'head', draft: i }, { kind: 'entry', draft: i }, ...(draft.producer === undefined ? [] : [{ kind: 'producer' as const, draft: i }]));
      items.push(...writes);
    }
    try {
      // The token makes the SDK's own retry of a commit whose response was lost a no-op
      // instead of a second append.
      await storage.ddb.send(new TransactWriteCommand({ TransactItems: items as never, ClientRequestToken: randomUUID() }));
      for (const i of pending) {
        const draft = drafts[i] as SegmentDraft;
        const before = heads[i] as HeadHint;
        const after = { nextOffset: before.nextOffset + draft.offsetCount, segments: before.segments + 1, bytes: before.bytes + draft.byteLength };
        rememberHead(pks[i] as string, after);
        results[i] = { baseOffset: before.nextOffset, before, after, duplicate: false, ...(draft.logAppendTimeMs === undefined ? {} : { logAppendTimeMs: draft.logAppendTimeMs }) };
      }
      return results as CommittedSegment[];
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (reasons === undefined && !isThrottle(error)) throw error;
      const failed = (reasons ?? []).flatMap((reason, index) => (reason.Code === 'ConditionalCheckFailed' && slots[index] !== undefined ? [{ slot: slots[index], item: reason.Item }] : []));
      // The topic first: a dead incarnation refuses everything, whatever else failed.
      if (failed.some((f) => f.slot.kind === 'topic')) throw topicGone(topic);
      const unissued = failed.find((f) => f.slot.kind === 'issued');
      if (unissued?.slot.kind === 'issued') throw unissuedId(unissued.slot.producerId);
      let learned = false;
      for (const { slot, item } of failed) {
        if (slot.kind === 'head') {
          tally('AppendConflicts', { topic: topic.name });
          // Learn the winner's head from the failed condition; conflicts keep what we had.
          const head = reportedHead(item);
          heads[slot.draft] = head;
          rememberHead(pks[slot.draft] as string, head);
        } else if (slot.kind === 'producer') {
          const draft = drafts[slot.draft] as SegmentDraft;
          const verdict = judgeProducer(draft.partition, draft.producer as ProducerIdentity, storedStateFromAttributes(item));
          if (verdict.kind === 'refused') throw verdict.error;
          if (verdict.kind === 'duplicate') {
            const head = heads[slot.draft] as HeadHint;
            const { logAppendTimeMs } = verdict.of;
            results[slot.draft] = { baseOffset: verdict.of.baseOffset, before: head, after: head, duplicate: true, ...(logAppendTimeMs === undefined ? {} : { logAppendTimeMs }) };
            learned = true;
          }
        }
      }
      if (learned) continue;
      await sleep(backoffDelayMs(attempt, { baseMs: SEQUENCER.backoffBaseMs, capMs: SEQUENCER.backoffCapMs }));
    }
  }
  throw new SluiceError('THROTTLING_QUOTA_EXCEEDED', `Too many concurrent appends to ${drafts.length === 1 ? 'this partition' : 'these partitions'}; retry after a short wait`, {
    retryAfterSeconds: SEQUENCER.retryAfterSeconds,
  });
}
