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
 * jittered backoff. All partitions of one request commit together or not at all.
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
import { HEAD_SK, indexSk, partitionPk, type IndexEntryItem } from '../storage/schema.ts';
import { TTL_ATTRIBUTE } from '../storage/provision.ts';

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
}

/** An idempotent producer's batches on one partition in one request: Kafka's producer id, epoch and sequences. */
export interface ProducerIdentity {
  producerId: bigint;
  producerEpoch: number;
  firstSequence: number;
  lastSequence: number;
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
}

/** An idempotent producer's last committed batch on one partition (Kafka's producer state). */
interface ProducerStateItem {
  pk: string;
  /** `PID#<producerId>` */
  sk: string;
  producerEpoch: number;
  firstSequence: number;
  lastSequence: number;
  baseOffset: number;
  updatedAtMs: number;
  /** DynamoDB TTL (seconds): Kafka's producer.id.expiration.ms, one day after the last write. */
  [TTL_ATTRIBUTE]: number;
}

const PRODUCER_STATE_TTL_SECONDS = 86_400;

/** What a failed producer-state condition means for a draft. */
function judgeProducer(draft: SegmentDraft, item: Record<string, unknown> | undefined): { duplicateOf: number } | SluiceError {
  const producer = draft.producer as ProducerIdentity;
  const n = (name: string) => Number((item?.[name] as { N?: string } | undefined)?.N ?? Number.NaN);
  if (n('producerEpoch') > producer.producerEpoch) {
    return new SluiceError('INVALID_PRODUCER_EPOCH', `Producer ${producer.producerId} epoch ${producer.producerEpoch} is fenced by epoch ${n('producerEpoch')}`);
  }
  if (n('producerEpoch') === producer.producerEpoch && n('firstSequence') === producer.firstSequence && n('lastSequence') === producer.lastSequence) {
    return { duplicateOf: n('baseOffset') };
  }
  return new SluiceError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Producer ${producer.producerId} sent sequence ${producer.firstSequence} on partition ${draft.partition}, but its last committed batch ended at ${n('lastSequence')}`);
}

/**
 * Commits `drafts` (at most one per partition) for topic incarnation `topicId` and returns
 * each draft's base offset, in order. Retries lost races; after SEQUENCER.maxAttempts
 * answers THROTTLING_QUOTA_EXCEEDED (retriable), having committed nothing. Drafts of an
 * idempotent producer also advance its state in the same transaction, conditioned on the
 * sequence following the last committed one: a retry of a batch already committed is
 * answered with the original offsets instead of appended twice (Kafka's KIP-98).
 */
export async function commitSegments(storage: Storage, topicId: string, drafts: readonly SegmentDraft[]): Promise<CommittedSegment[]> {
  const pks = drafts.map((d) => partitionPk(topicId, d.partition));
  const heads = await Promise.all(pks.map(async (pk) => knownHeads.get(pk) ?? readHeadHint(storage, pk)));
  const results: Array<CommittedSegment | undefined> = drafts.map(() => undefined);
  for (let attempt = 0; attempt < SEQUENCER.maxAttempts; attempt++) {
    const now = Date.now();
    const slots: Array<{ draft: number; kind: 'head' | 'entry' | 'producer' }> = [];
    const items = drafts.flatMap((draft, i) => {
      if (results[i] !== undefined) return [];
      const pk = pks[i] as string;
      const base = (heads[i] as HeadHint).nextOffset;
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
      slots.push({ draft: i, kind: 'head' }, { draft: i, kind: 'entry' });
      const writes: Array<Record<string, unknown>> = [
        {
          Update: {
            TableName: storage.env.tableName,
            Key: { pk, sk: HEAD_SK },
            UpdateExpression: 'SET nextOffset = :next, logStartOffset = if_not_exists(logStartOffset, :zero) ADD #bytes :bytes, #segments :one',
            // An absent head is an empty log: it may only be created from offset 0.
            ConditionExpression: base === 0 ? itemDoesNotExist : 'nextOffset = :expected',
            ExpressionAttributeNames: { '#bytes': 'bytes', '#segments': 'segments' },
            ExpressionAttributeValues: {
              ':next': lastOffset + 1,
              ':zero': 0,
              ':bytes': draft.byteLength,
              ':one': 1,
              ...(base === 0 ? {} : { ':expected': base }),
            },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
          },
        },
        { Put: { TableName: storage.env.tableName, Item: entry, ConditionExpression: itemDoesNotExist } },
      ];
      if (draft.producer !== undefined) {
        const producer = draft.producer;
        const state: ProducerStateItem = {
          pk,
          sk: `PID#${producer.producerId}`,
          producerEpoch: producer.producerEpoch,
          firstSequence: producer.firstSequence,
          lastSequence: producer.lastSequence,
          baseOffset: base,
          updatedAtMs: now,
          [TTL_ATTRIBUTE]: Math.ceil(now / 1000) + PRODUCER_STATE_TTL_SECONDS,
        };
        slots.push({ draft: i, kind: 'producer' });
        writes.push({
          Put: {
            TableName: storage.env.tableName,
            Item: state,
            // First batch we know of, a newer epoch, or the very next sequence.
            ConditionExpression: 'attribute_not_exists(pk) OR producerEpoch < :epoch OR (producerEpoch = :epoch AND lastSequence = :previous)',
            ExpressionAttributeValues: { ':epoch': producer.producerEpoch, ':previous': producer.firstSequence - 1 },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
          },
        });
      }
      return writes;
    });
    if (items.length === 0) return results as CommittedSegment[];
    try {
      // The token makes the SDK's own retry of a commit whose response was lost a no-op
      // instead of a second append.
      await storage.ddb.send(new TransactWriteCommand({ TransactItems: items as never, ClientRequestToken: randomUUID() }));
      drafts.forEach((d, i) => {
        if (results[i] !== undefined) return;
        const before = heads[i] as HeadHint;
        const after = { nextOffset: before.nextOffset + d.offsetCount, segments: before.segments + 1, bytes: before.bytes + d.byteLength };
        knownHeads.set(pks[i] as string, after);
        results[i] = { baseOffset: before.nextOffset, before, after, duplicate: false };
      });
      return results as CommittedSegment[];
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (reasons === undefined && !isThrottle(error)) throw error;
      // Learn the winners' heads from the failed conditions; conflicts keep what we had.
      for (const [index, reason] of (reasons ?? []).entries()) {
        const slot = slots[index];
        if (reason.Code !== 'ConditionalCheckFailed' || slot === undefined) continue;
        if (slot.kind === 'head') {
          const head = reportedHead(reason.Item);
          heads[slot.draft] = head;
          knownHeads.set(pks[slot.draft] as string, head);
        } else if (slot.kind === 'producer') {
          const verdict = judgeProducer(drafts[slot.draft] as SegmentDraft, reason.Item);
          if (verdict instanceof SluiceError) throw verdict;
          const head = heads[slot.draft] as HeadHint;
          results[slot.draft] = { baseOffset: verdict.duplicateOf, before: head, after: head, duplicate: true };
        }
      }
      if (reasons?.some((r, index) => r.Code === 'ConditionalCheckFailed' && slots[index]?.kind === 'producer')) continue;
      await sleep(backoffDelayMs(attempt, { baseMs: SEQUENCER.backoffBaseMs, capMs: SEQUENCER.backoffCapMs }));
    }
  }
  throw new SluiceError('THROTTLING_QUOTA_EXCEEDED', `Too many concurrent appends to ${drafts.length === 1 ? 'this partition' : 'these partitions'}; retry after a short wait`, {
    retryAfterSeconds: SEQUENCER.retryAfterSeconds,
  });
}

/** Forgets cached heads (tests simulate a cold start with it). */
export function forgetKnownHeads(): void {
  knownHeads.clear();
}
