import { stampLogAppendTime, type BatchHeader } from '../codec/record-batch.ts';
import type { Storage } from '../storage/clients.ts';
import type { TopicItem } from '../storage/schema.ts';
import { planCommitGroups } from './commit-groups.ts';
import { checkIssuable } from './producer-ids.ts';
import { refuseBeforeWriting } from './producer-preflight.ts';
import { producerOfBatches, type ProducerIdentity } from './producer-state.ts';
import { commitSegments, groupCommit, type CommittedSegment, type GroupCommitHooks, type SegmentDraft } from './sequencer.ts';
import { appendCombining } from './segment-combining.ts';
import { SluiceError } from '../errors.ts';
import { compactionWork, requestCompaction } from '../retention/trigger.ts';
import { deleteUnreferencedObjects, putSegmentObject } from '../storage/segment-objects.ts';

/** Verified RecordBatch v2 bytes bound for one partition, in the order they were sent. */
export interface PartitionBatches {
  partition: number;
  batches: Array<{ bytes: Buffer; header: BatchHeader }>;
}

/** Where one partition's batches landed. */
export interface AppendedPartition {
  partition: number;
  /** Base offset of each batch, in request order. */
  batchBaseOffsets: number[];
  /** Set when the topic stamps LogAppendTime. */
  logAppendTimeMs?: number;
}

/** Test seams for crash injection between the steps of an append. */
export interface AppendHooks extends GroupCommitHooks {
  afterObjectsWritten?: () => Promise<void>;
}

/** Offsets a batch consumes: Kafka counts lastOffsetDelta + 1 even when compaction left gaps. */
function offsetsOf(header: BatchHeader): number {
  return header.lastOffsetDelta + 1;
}

/**
 * Appends verified batches: one immutable object per partition first, then conditional
 * commits of offsets, and only then a result the caller may acknowledge.
 *
 * A request whose partitions fit one transaction (planCommitGroups; every request the
 * client sends) commits atomically. A wider one commits in several; its idempotent batches
 * are judged against the stored producer state before anything is written, so the refusals
 * a producer can cause never come after a partial commit. If a later transaction still
 * fails (topic deleted, throttled, a second writer with the same producer id and epoch), the
 * error names the partitions already committed in `committedPartitions`; those stay
 * appended, and a retry of an idempotent request answers them as duplicates.
 *
 * Objects of a refused request, and of batches answered as duplicates, are deleted before
 * answering, so nothing is left in S3 (a crash in between leaves an orphan, collected later).
 *
 * A single-partition request of non-idempotent batches shares its object and index entry
 * with what this process appends to the partition meanwhile (segment-combining.ts).
 */
export async function appendBatches(storage: Storage, topic: TopicItem, parts: readonly PartitionBatches[], hooks: AppendHooks = {}): Promise<AppendedPartition[]> {
  const logAppendTimeMs = topic.configs['message.timestamp.type'] === 'LogAppendTime' ? Date.now() : undefined;
  // Checked for every partition before anything is written.
  const identities = parts.map((part) => producerOfBatches(part.partition, part.batches.map((b) => b.header)));
  for (const identity of identities) if (identity !== undefined) checkIssuable(identity.producerId);
  const groups = planCommitGroups(identities.map((producer) => (producer === undefined ? {} : { producer })));
  if (groups.length > 1) {
    const producers = parts.flatMap((part, i) => (identities[i] === undefined ? [] : [{ partition: part.partition, producer: identities[i] as ProducerIdentity }]));
    if (producers.length > 0) await refuseBeforeWriting(storage, topic, producers);
  }
  if (logAppendTimeMs !== undefined) for (const part of parts) for (const b of part.batches) stampLogAppendTime(b.bytes, 0, logAppendTimeMs);
  const [only] = parts;
  if (groupCommit && parts.length === 1 && only !== undefined && identities[0] === undefined) {
    // Shares an object (and index entry) with what this process appends to the partition meanwhile.
    const segment = await appendCombining(storage, topic, { ...only, ...(logAppendTimeMs === undefined ? {} : { logAppendTimeMs }) }, hooks);
    return answer(topic, [only], [segment]);
  }
  const drafts: SegmentDraft[] = await Promise.all(
    parts.map(async (part, index) => {
      const body = part.batches.length === 1 ? (part.batches[0] as { bytes: Buffer }).bytes : Buffer.concat(part.batches.map((b) => b.bytes));
      const { objectKey, expireDays } = await putSegmentObject(storage, topic, part.partition, 'produced', body);
      const producer = identities[index];
      return {
        partition: part.partition,
        objectKey,
        byteStart: 0,
        byteLength: body.length,
        offsetCount: part.batches.reduce((n, b) => n + offsetsOf(b.header), 0),
        recordCount: part.batches.reduce((n, b) => n + b.header.recordCount, 0),
        batchCount: part.batches.length,
        maxTimestamp: logAppendTimeMs ?? Math.max(...part.batches.map((b) => b.header.maxTimestamp)),
        expireDays,
        ...(producer === undefined ? {} : { producer }),
        ...(logAppendTimeMs === undefined ? {} : { logAppendTimeMs }),
      };
    }),
  );
  await hooks.afterObjectsWritten?.();
  const committed: CommittedSegment[] = [];
  try {
    for (const [start, end] of groups) committed.push(...(await commitSegments(storage, topic, drafts.slice(start, end), hooks)));
  } catch (error) {
    // A SluiceError from the sequencer is a definite refusal: nothing of that group committed.
    // Anything else (a lost connection) may have committed, so its objects must stay.
    if (!(error instanceof SluiceError)) throw error;
    await discardObjects(storage, [...drafts.slice(committed.length), ...drafts.filter((_, i) => committed[i]?.duplicate === true)]);
    throw committed.length === 0 ? error : partlyCommitted(error, drafts.slice(0, committed.length));
  }
  await discardObjects(storage, drafts.filter((_, i) => (committed[i] as CommittedSegment).duplicate));
  return answer(topic, parts, committed);
}

/** Each partition's batch offsets, once its commit is done; asks for compaction where the append made work. */
async function answer(topic: TopicItem, parts: readonly PartitionBatches[], committed: readonly CommittedSegment[]): Promise<AppendedPartition[]> {
  const triggers: Array<Promise<void>> = [];
  const results = parts.map((part, i): AppendedPartition => {
    const segment = committed[i] as CommittedSegment;
    if (!segment.duplicate && compactionWork(topic.configs, segment) !== undefined) triggers.push(requestCompaction({ topic: topic.name, partition: part.partition }));
    let next = segment.baseOffset;
    const batchBaseOffsets = part.batches.map((b) => {
      const base = next;
      next += offsetsOf(b.header);
      return base;
    });
    return { partition: part.partition, batchBaseOffsets, ...(segment.logAppendTimeMs === undefined ? {} : { logAppendTimeMs: segment.logAppendTimeMs }) };
  });
  // Queued before acknowledging so a frozen Lambda cannot lose them; never throws.
  await Promise.all(triggers);
  return results;
}

/** The sequencer's refusal of a later transaction, naming the partitions earlier ones committed. */
function partlyCommitted(error: SluiceError, committed: readonly SegmentDraft[]): SluiceError {
  const partitions = committed.map((d) => d.partition);
  return new SluiceError(error.code, `${error.message}; partitions ${partitions.join(', ')} of this request were already committed and stay appended`, {
    details: { ...error.details, committedPartitions: partitions },
    ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    cause: error,
  });
}

/** Deletes the objects of drafts no index entry will ever name; never throws (segment-objects.ts). */
function discardObjects(storage: Storage, drafts: readonly SegmentDraft[]): Promise<void> {
  return deleteUnreferencedObjects(storage, drafts.map((d) => d.objectKey));
}
