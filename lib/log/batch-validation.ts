import { DecodeBudget } from '../codec/decode-budget.ts';
import { readBatchHeader, validateProducerBatch, type BatchHeader } from '../codec/record-batch.ts';
import type { Frame } from '../codec/framing.ts';
import { SluiceError } from '../errors.ts';
import type { TopicItem } from '../storage/schema.ts';
import type { PartitionBatches } from './append.ts';
import { checkPartition } from './topics.ts';

/**
 * Checks producer-sent batches the way Kafka's LogValidator does before anything is
 * written: one whole v2 batch per frame with a good CRC, within max.message.bytes, not a
 * transactional or control batch (Sluice has no transactions), records whose offset
 * deltas run 0..n-1, and timestamps the header tells truthfully. Bytes are kept exactly as
 * sent; nothing is re-encoded. Records are walked, never built, and the whole request's
 * decoding is charged to `budget`.
 * Returns the batches grouped by partition, in request order.
 */
export async function validateFrames(topic: TopicItem, frames: readonly Frame[], budget = new DecodeBudget()): Promise<{ parts: PartitionBatches[]; order: Array<{ partition: number; batch: number }> }> {
  if (frames.length === 0) throw new SluiceError('INVALID_REQUEST', 'The request holds no batches');
  const maxBytes = topic.configs['max.message.bytes'];
  const byPartition = new Map<number, PartitionBatches>();
  const order: Array<{ partition: number; batch: number }> = [];
  for (const [i, frame] of frames.entries()) {
    checkPartition(topic, frame.partition);
    const header = readBatchHeader(frame.batch, 0);
    if (header.sizeBytes !== frame.batch.length) {
      throw new SluiceError('CORRUPT_MESSAGE', `Frame ${i} is ${frame.batch.length} bytes but its batch is ${header.sizeBytes}; each frame carries exactly one RecordBatch`);
    }
    if (header.sizeBytes > maxBytes) {
      throw new SluiceError('MESSAGE_TOO_LARGE', `Batch in frame ${i} is ${header.sizeBytes} bytes; the topic's max.message.bytes is ${maxBytes}`);
    }
    if (header.isTransactional || header.isControl) throw new SluiceError('INVALID_RECORD', `Batch in frame ${i} is transactional or a control batch; Sluice does not support transactions`);
    if (header.recordCount < 1 || header.lastOffsetDelta !== header.recordCount - 1) {
      throw new SluiceError('INVALID_RECORD', `Batch in frame ${i} has ${header.recordCount} records but lastOffsetDelta ${header.lastOffsetDelta}; a producer batch has deltas 0..n-1`);
    }
    // The walk checks the CRC-32C and each offset delta too: one pass over the bytes validates everything.
    const { firstKeyless, maxRecordTimestamp } = await validateProducerBatch(frame.batch, budget);
    if (firstKeyless !== -1 && topic.configs['cleanup.policy'] !== 'delete') {
      throw new SluiceError('INVALID_RECORD', `Compacted topic ${JSON.stringify(topic.name)} cannot accept a record without a key (frame ${i}, record ${firstKeyless})`);
    }
    checkTimestamps(topic, header, maxRecordTimestamp, i);
    // A private copy: the batch may be stamped with LogAppendTime in place.
    const bytes = Buffer.from(frame.batch);
    let part = byPartition.get(frame.partition);
    if (part === undefined) {
      part = { partition: frame.partition, batches: [] };
      byPartition.set(frame.partition, part);
    }
    part.batches.push({ bytes, header });
    order.push({ partition: frame.partition, batch: part.batches.length - 1 });
  }
  return { parts: [...byPartition.values()], order };
}

/**
 * The header's timestamps are what ListOffsets and time-based retention read, so they must
 * tell the truth: a CreateTime batch's maxTimestamp is its largest record timestamp, and
 * only the broker stamps LogAppendTime (a producer setting the bit on a CreateTime topic
 * would choose every record's timestamp through maxTimestamp). On a LogAppendTime topic the
 * append stamps the batch anyway, whatever the producer sent.
 */
function checkTimestamps(topic: TopicItem, header: BatchHeader, maxRecordTimestamp: number, frame: number): void {
  if (header.timestampType === 'LogAppendTime') {
    if (topic.configs['message.timestamp.type'] === 'LogAppendTime') return;
    throw new SluiceError('INVALID_TIMESTAMP', `Batch in frame ${frame} has the LogAppendTime attribute, but topic ${JSON.stringify(topic.name)} uses CreateTime; only the broker stamps LogAppendTime`);
  }
  const max = maxRecordTimestamp;
  if (max !== header.maxTimestamp) {
    throw new SluiceError('INVALID_TIMESTAMP', `Batch in frame ${frame} has maxTimestamp ${header.maxTimestamp} in its header, but its largest record timestamp is ${max}`);
  }
}
