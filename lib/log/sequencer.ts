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
 * A crash before the transaction leaves an unreferenced object (collected as an orphan);
 * a crash after it leaves a committed, unacknowledged append, which the producer's retry
 * may duplicate, as with a Kafka producer without idempotence.
 */
import { randomUUID } from 'node:crypto';
import { GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { SEQUENCER } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import { backoffDelayMs, sleep } from '../retry.ts';
import type { Storage } from '../storage/clients.ts';
import { cancellationReasons, isThrottle, itemDoesNotExist } from '../storage/conditions.ts';
import { HEAD_SK, TOPICS_PK, indexSk, partitionPk, topicSk, type IndexEntryItem, type TopicItem } from '../storage/schema.ts';
import { TTL_ATTRIBUTE } from '../storage/provision.ts';
import { issuedCheck, unissued as unissuedId } from './producer-ids.ts';
import { appendCondition, judgeProducer, producerStateSk, storedStateFromAttributes, type ProducerIdentity, type StoredProducerState } from './producer-state.ts';

export type { ProducerIdentity } from './producer-state.ts';

/** An object written to S3 and waiting for its offsets. */
export interface SegmentDraft {
  partition: number;
  objectKey: string;
  byteStart: number;
  byteLength: number;
  /** Offsets the segment consumes: the sum over its batches of lastOffsetDelta + 1. */
  offsetCount: number;
  recordCount: number;
  batchCount: number;
  maxTimestamp: number;
  /** Lifecycle expiry tag the object was written with (0: none). */
  expireDays: number;
  /** Set for batches of an idempotent producer (producerId ≥ 0). */
  producer?: ProducerIdentity;
  /** Set when the topic stamps LogAppendTime: the time the batches carry. */
  logAppendTimeMs?: number;
}

/** What the sequencer knows of a head: the offset it conditions on, and sizes for triggers. */
interface HeadHint {
  nextOffset: number;
  segments: number;
  bytes: number;
}

/**
 * Last head seen per partition in this process; a hint only, the condition decides.
 * Staleness: unbounded; it is never expired. Every other instance's append moves the head
 * on without this one knowing. Invariants hold regardless: the commit is conditioned on
 * `nextOffset = hint`, so a stale hint only costs one failed attempt, which returns the
 * real head (ALL_OLD) to retry from; it can never assign a taken offset. The key holds the
 * topic incarnation's id, so a re-created topic never meets an old hint. A hint for a
 * deleted incarnation meets an absent head; refusing that append is the commit condition's
 * job, never the hint's (test/integration/instances-topic-race.test.ts). Tested with two
 * instances in test/integration/instances-caches.test.ts.
 */
const knownHeads = new Map<string, HeadHint>();

async function readHeadHint(storage: Storage, pk: string): Promise<HeadHint> {
  const result = await storage.ddb.send(
    new GetCommand({
      TableName: storage.env.tableName,
      Key: { pk, sk: HEAD_SK },
      ConsistentRead: true,
      ProjectionExpression: 'nextOffset, #segments, #bytes',
      ExpressionAttributeNames: { '#segments': 'segments', '#bytes': 'bytes' },
    }),
  );
  const item = result.Item ?? {};
  return { nextOffset: numberOr0(item.nextOffset), segments: numberOr0(item.segments), bytes: numberOr0(item.bytes) };
}

function numberOr0(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** The head a cancelled transaction reports (ALL_OLD), as a DynamoDB AttributeValue map. */
function reportedHead(item: Record<string, unknown> | undefined): HeadHint {
  const n = (name: string) => {
    const attribute = item?.[name] as { N?: string } | undefined;
    return attribute?.N === undefined ? 0 : Number(attribute.N);
  };
  return { nextOffset: n('nextOffset'), segments: n('segments'), bytes: n('bytes') };
}

/** A committed draft: its base offset and the partition's sizes before and after (estimates). */
export interface CommittedSegment {
  baseOffset: number;
  before: { segments: number; bytes: number };
  after: { segments: number; bytes: number };
  /** True when an idempotent producer's retry matched its last committed batch: nothing was appended. */
  duplicate: boolean;
  /** The LogAppendTime the committed batches carry (a duplicate's: the original's). */
  logAppendTimeMs?: number;
}

/** An idempotent producer's last committed batch on one partition (Kafka's producer state). */
interface ProducerStateItem extends StoredProducerState {
  pk: string;
  /** `PID#<producerId>` */
  sk: string;
  updatedAtMs: number;
  /** DynamoDB TTL (seconds): Kafka's producer.id.expiration.ms, one day after the last write. */
  [TTL_ATTRIBUTE]: number;
}

const PRODUCER_STATE_TTL_SECONDS = 86_400;

/** The topic incarnation a commit lands on. */
export type LiveTopic = Pick<TopicItem, 'name' | 'topicId'>;

/**
 * The check that makes a commit land only on a live incarnation: the topic item still holds
 * this topicId. Without it, a produce that read the topic before a delete (and re-create)
 * could commit to the dead incarnation's partition, even create its head afresh from offset
 * 0, and be acknowledged while the purge removes it.
 */
function topicIsLive(storage: Storage, topic: LiveTopic): Record<string, unknown> {
  return {
    ConditionCheck: {
      TableName: storage.env.tableName,
      Key: { pk: TOPICS_PK, sk: topicSk(topic.name) },
      ConditionExpression: 'topicId = :topicId',
      ExpressionAttributeValues: { ':topicId': topic.topicId },
    },
  };
}

function topicGone(topic: LiveTopic): SluiceError {
  return new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(topic.name)} was deleted while the produce was in flight; nothing was appended`);
}

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
export async function commitSegments(storage: Storage, topic: LiveTopic, drafts: readonly SegmentDraft[]): Promise<CommittedSegment[]> {
  const pks = drafts.map((d) => partitionPk(topic.topicId, d.partition));
  const heads = await Promise.all(pks.map(async (pk) => knownHeads.get(pk) ?? readHeadHint(storage, pk)));
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
      const writes = draftWrites(storage, pks[i] as string, (heads[i] as HeadHint).nextOffset, draft, now);
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
        knownHeads.set(pks[i] as string, after);
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
          // Learn the winner's head from the failed condition; conflicts keep what we had.
          const head = reportedHead(item);
          heads[slot.draft] = head;
          knownHeads.set(pks[slot.draft] as string, head);
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

/** A draft's writes: head, index entry, and the producer's state when it has one. */
function draftWrites(storage: Storage, pk: string, base: number, draft: SegmentDraft, now: number): Array<Record<string, unknown>> {
  const lastOffset = base + draft.offsetCount - 1;
  const entry: IndexEntryItem = {
    pk,
    sk: indexSk(lastOffset),
    baseOffset: base,
    lastOffset,
    recordCount: draft.recordCount,
    objectKey: draft.objectKey,
    byteStart: draft.byteStart,
    byteLength: draft.byteLength,
    maxTimestamp: draft.maxTimestamp,
    batchCount: draft.batchCount,
    createdAtMs: now,
    expireDays: draft.expireDays,
  };
  const writes: Array<Record<string, unknown>> = [
    {
      Update: {
        TableName: storage.env.tableName,
        Key: { pk, sk: HEAD_SK },
        UpdateExpression: 'SET nextOffset = :next, logStartOffset = if_not_exists(logStartOffset, :zero) ADD #bytes :bytes, #segments :one',
        // An absent head is an empty log: it may only be created from offset 0 (and, by the
        // topic check beside it, only in a live incarnation).
        ConditionExpression: base === 0 ? itemDoesNotExist : 'nextOffset = :expected',
        ExpressionAttributeNames: { '#bytes': 'bytes', '#segments': 'segments' },
        ExpressionAttributeValues: { ':next': lastOffset + 1, ':zero': 0, ':bytes': draft.byteLength, ':one': 1, ...(base === 0 ? {} : { ':expected': base }) },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
      },
    },
    { Put: { TableName: storage.env.tableName, Item: entry, ConditionExpression: itemDoesNotExist } },
  ];
  const producer = draft.producer;
  if (producer !== undefined) {
    const state: ProducerStateItem = {
      pk,
      sk: producerStateSk(producer.producerId),
      producerEpoch: producer.producerEpoch,
      firstSequence: producer.firstSequence,
      lastSequence: producer.lastSequence,
      baseOffset: base,
      ...(draft.logAppendTimeMs === undefined ? {} : { logAppendTimeMs: draft.logAppendTimeMs }),
      updatedAtMs: now,
      [TTL_ATTRIBUTE]: Math.ceil(now / 1000) + PRODUCER_STATE_TTL_SECONDS,
    };
    writes.push({ Put: { TableName: storage.env.tableName, Item: state, ...appendCondition(producer), ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const } });
  }
  return writes;
}

/** Forgets cached heads (tests simulate a cold start with it). */
export function forgetKnownHeads(): void {
  knownHeads.clear();
}
