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
}

/** What the sequencer knows of a head: the offset it conditions on, and sizes for triggers. */
interface HeadHint {
  nextOffset: number;
  segments: number;
  bytes: number;
}

/** Last head seen per partition in this process; a hint only, the condition decides. */
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
}

/**
 * Commits `drafts` (at most one per partition) for topic incarnation `topicId` and returns
 * each draft's base offset, in order. Retries lost races; after SEQUENCER.maxAttempts
 * answers THROTTLING_QUOTA_EXCEEDED (retriable), having committed nothing.
 */
export async function commitSegments(storage: Storage, topicId: string, drafts: readonly SegmentDraft[]): Promise<CommittedSegment[]> {
  const pks = drafts.map((d) => partitionPk(topicId, d.partition));
  const heads = await Promise.all(pks.map(async (pk) => knownHeads.get(pk) ?? readHeadHint(storage, pk)));
  for (let attempt = 0; attempt < SEQUENCER.maxAttempts; attempt++) {
    const now = Date.now();
    const items = drafts.flatMap((draft, i) => {
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
      return [
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
    });
    try {
      // The token makes the SDK's own retry of a commit whose response was lost a no-op
      // instead of a second append.
      await storage.ddb.send(new TransactWriteCommand({ TransactItems: items, ClientRequestToken: randomUUID() }));
      return drafts.map((d, i) => {
        const before = heads[i] as HeadHint;
        const after = { nextOffset: before.nextOffset + d.offsetCount, segments: before.segments + 1, bytes: before.bytes + d.byteLength };
        knownHeads.set(pks[i] as string, after);
        return { baseOffset: before.nextOffset, before, after };
      });
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (reasons === undefined && !isThrottle(error)) throw error;
      // Learn the winners' heads from the failed conditions; conflicts keep what we had.
      reasons?.forEach((reason, index) => {
        if (reason.Code !== 'ConditionalCheckFailed' || index % 2 !== 0) return;
        const i = index / 2;
        const head = reportedHead(reason.Item);
        heads[i] = head;
        knownHeads.set(pks[i] as string, head);
      });
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
