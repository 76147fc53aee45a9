/**
 * The pieces every sequencing transaction is made of: the head's compare-and-set, a draft's
 * index entry and producer state, the topic-incarnation check, and the process's hint of
 * each partition's head. Shared by the multi-partition sequencer (sequencer.ts) and the
 * single-partition group commit (group-commit.ts).
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { SluiceError } from '../errors.ts';
import type { Storage } from '../storage/clients.ts';
import { itemDoesNotExist } from '../storage/conditions.ts';
import { HEAD_SK, TOPICS_PK, indexSk, topicSk, type IndexEntryItem, type TopicItem } from '../storage/schema.ts';
import { TTL_ATTRIBUTE } from '../storage/provision.ts';
import { appendCondition, producerStateSk, type ProducerIdentity, type StoredProducerState } from './producer-state.ts';

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

/** What the sequencer knows of a head: the offset it conditions on, and sizes for triggers. */
export interface HeadHint {
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

/** The head to condition the next commit on: this process's hint, else a consistent read. */
export async function headHint(storage: Storage, pk: string): Promise<HeadHint> {
  const known = knownHeads.get(pk);
  if (known !== undefined) return known;
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

/** Records the head a commit left or a failed condition reported. */
export function rememberHead(pk: string, head: HeadHint): void {
  knownHeads.set(pk, head);
}

/** Forgets cached heads (tests simulate a cold start with it). */
export function forgetKnownHeads(): void {
  knownHeads.clear();
}

function numberOr0(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** The head a cancelled transaction reports (ALL_OLD), as a DynamoDB AttributeValue map. */
export function reportedHead(item: Record<string, unknown> | undefined): HeadHint {
  const n = (name: string) => {
    const attribute = item?.[name] as { N?: string } | undefined;
    return attribute?.N === undefined ? 0 : Number(attribute.N);
  };
  return { nextOffset: n('nextOffset'), segments: n('segments'), bytes: n('bytes') };
}

/** The topic incarnation a commit lands on. */
export type LiveTopic = Pick<TopicItem, 'name' | 'topicId'>;

/**
 * The check that makes a commit land only on a live incarnation: the topic item still holds
 * this topicId. Without it, a produce that read the topic before a delete (and re-create)
 * could commit to the dead incarnation's partition, even create its head afresh from offset
 * 0, and be acknowledged while the purge removes it.
 */
export function topicIsLive(storage: Storage, topic: LiveTopic): Record<string, unknown> {
  return {
    ConditionCheck: {
      TableName: storage.env.tableName,
      Key: { pk: TOPICS_PK, sk: topicSk(topic.name) },
      ConditionExpression: 'topicId = :topicId',
      ExpressionAttributeValues: { ':topicId': topic.topicId },
    },
  };
}

/** The refusal of a produce whose topic incarnation died while it was in flight. */
export function topicGone(topic: LiveTopic): SluiceError {
  return new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(topic.name)} was deleted while the produce was in flight; nothing was appended`);
}

/** What a transaction adds to one partition: offsets, bytes and index entries. */
export interface HeadAdvance {
  offsets: number;
  bytes: number;
  segments: number;
}

/**
 * The head's compare-and-set: nextOffset moves from `base` to `base + offsets` only if it
 * still is `base`. ALL_OLD makes a lost race report the winner's head (no second read).
 */
export function headWrite(storage: Storage, pk: string, base: number, advance: HeadAdvance): Record<string, unknown> {
  return {
    Update: {
      TableName: storage.env.tableName,
      Key: { pk, sk: HEAD_SK },
      UpdateExpression: 'SET nextOffset = :next, logStartOffset = if_not_exists(logStartOffset, :zero) ADD #bytes :bytes, #segments :segments',
      // An absent head is an empty log: it may only be created from offset 0 (and, by the
      // topic check beside it, only in a live incarnation).
      ConditionExpression: base === 0 ? itemDoesNotExist : 'nextOffset = :expected',
      ExpressionAttributeNames: { '#bytes': 'bytes', '#segments': 'segments' },
      ExpressionAttributeValues: { ':next': base + advance.offsets, ':zero': 0, ':bytes': advance.bytes, ':segments': advance.segments, ...(base === 0 ? {} : { ':expected': base }) },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    },
  };
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

/** A draft's writes at offset `base`: its index entry, and its producer's state when it has one. */
export function draftWrites(storage: Storage, pk: string, base: number, draft: SegmentDraft, now: number): Array<Record<string, unknown>> {
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
  const writes: Array<Record<string, unknown>> = [{ Put: { TableName: storage.env.tableName, Item: entry, ConditionExpression: itemDoesNotExist } }];
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
