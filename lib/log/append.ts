import { LIMITS } from '../config/defaults.ts';
import { stampLogAppendTime, type BatchHeader } from '../codec/record-batch.ts';
import type { Storage } from '../storage/clients.ts';
import type { TopicItem } from '../storage/schema.ts';
import { commitSegments, type CommittedSegment, type ProducerIdentity, type SegmentDraft } from './sequencer.ts';
import { SluiceError } from '../errors.ts';
import { crossesThreshold, requestCompaction } from '../retention/trigger.ts';
import { putSegmentObject } from '../storage/segment-objects.ts';

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
export interface AppendHooks {
  afterObjectsWritten?: () => Promise<void>;
}

/** Offsets a batch consumes: Kafka counts lastOffsetDelta + 1 even when compaction left gaps. */
function offsetsOf(header: BatchHeader): number {
  return header.lastOffsetDelta + 1;
}

/**
 * The idempotent producer behind a partition's batches, if any. Kafka's rule: one producer
 * id and epoch per request and partition, sequences contiguous from batch to batch.
 */
function producerOf(part: PartitionBatches): { producer?: ProducerIdentity } {
  const [first] = part.batches;
  if (first === undefined || first.header.producerId < 0n) return {};
  let next = first.header.baseSequence;
  for (const { header } of part.batches) {
    if (header.producerId !== first.header.producerId || header.producerEpoch !== first.header.producerEpoch) {
      throw new SluiceError('INVALID_RECORD', `Batches for partition ${part.partition} mix producer ids or epochs in one request`);
    }
    if (header.baseSequence !== next || header.baseSequence < 0) {
      throw new SluiceError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Batch for partition ${part.partition} starts at sequence ${header.baseSequence}, expected ${next}`);
    }
    next = header.baseSequence + header.lastOffsetDelta + 1;
  }
  return { producer: { producerId: first.header.producerId, producerEpoch: first.header.producerEpoch, firstSequence: first.header.baseSequence, lastSequence: next - 1 } };
}

/**
 * Appends verified batches: one immutable object per partition first, then one
 * conditional commit of offsets, and only then a result the caller may acknowledge.
 */
export async function appendBatches(storage: Storage, topic: TopicItem, parts: readonly PartitionBatches[], hooks: AppendHooks = {}): Promise<AppendedPartition[]> {
  const logAppendTimeMs = topic.configs['message.timestamp.type'] === 'LogAppendTime' ? Date.now() : undefined;
  // Checked for every partition before anything is written.
  const identities = parts.map(producerOf);
  const drafts: SegmentDraft[] = await Promise.all(
    parts.map(async (part, index) => {
      if (logAppendTimeMs !== undefined) for (const b of part.batches) stampLogAppendTime(b.bytes, 0, logAppendTimeMs);
      const body = part.batches.length === 1 ? (part.batches[0] as { bytes: Buffer }).bytes : Buffer.concat(part.batches.map((b) => b.bytes));
      const { objectKey, expireDays } = await putSegmentObject(storage, topic, part.partition, 'produced', body);
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
        ...identities[index],
      };
    }),
  );
  await hooks.afterObjectsWritten?.();
  const results: AppendedPartition[] = [];
  const triggers: Array<Promise<void>> = [];
  // One transaction holds at most 100 items (two per partition); wider requests commit in groups.
  for (let i = 0; i < drafts.length; i += LIMITS.maxPartitionsPerCommit) {
    const group = drafts.slice(i, i + LIMITS.maxPartitionsPerCommit);
    const committed = await commitSegments(storage, topic.topicId, group);
    group.forEach((draft, j) => {
      const part = parts[i + j] as PartitionBatches;
      const segment = committed[j] as CommittedSegment;
      if (!segment.duplicate && crossesThreshold(segment.before, segment.after)) triggers.push(requestCompaction({ topic: topic.name, partition: draft.partition }));
      let next = segment.baseOffset;
      const batchBaseOffsets = part.batches.map((b) => {
        const base = next;
        next += offsetsOf(b.header);
        return base;
      });
      results.push({ partition: draft.partition, batchBaseOffsets, ...(logAppendTimeMs === undefined ? {} : { logAppendTimeMs }) });
    });
  }
  // Queued before acknowledging so a frozen Lambda cannot lose them; never throws.
  await Promise.all(triggers);
  return results;
}
