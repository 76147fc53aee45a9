import { randomInt } from 'node:crypto';
import { encodeRecordBatch, readBatchHeader, type BatchRecord } from '../codec/record-batch.ts';
import { SluiceError } from '../errors.ts';
import type { TopicItem } from '../storage/schema.ts';
import type { PartitionBatches } from './append.ts';
import { partitionForKey } from './partitioner.ts';
import { checkPartition } from './topics.ts';

/** A record from a JSON produce request, already in bytes. */
export interface ProduceRecord extends BatchRecord {
  /** Explicit partition, honoured as Kafka's producer does. */
  partition?: number;
}

/** Where record i of the request went: its partition, batch and index inside the batch. */
export interface Placement {
  partition: number;
  batch: number;
  index: number;
}

/** RecordBatch v2 fixed overhead (61 bytes) plus a margin for varint growth. */
const BATCH_OVERHEAD_BYTES = 72;

/** Upper bound on a record's encoded size inside a batch. */
function recordSizeBound(record: BatchRecord): number {
  let size = 25 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const h of record.headers) size += 10 + Buffer.byteLength(h.key) + (h.value?.length ?? 0);
  return size;
}

/**
 * Kafka's partitioning (DefaultPartitioner / BuiltInPartitioner): an explicit partition
 * wins; a key goes to murmur2(key) mod partitions; keyless records stick to one random
 * partition for the whole request, as the sticky partitioner does for a batch.
 */
export function choosePartitions(topic: TopicItem, records: readonly ProduceRecord[]): number[] {
  const sticky = randomInt(topic.partitions);
  return records.map((record) => {
    if (record.partition !== undefined) {
      checkPartition(topic, record.partition);
      return record.partition;
    }
    return record.key === null ? sticky : partitionForKey(record.key, topic.partitions);
  });
}

/**
 * Groups records by partition, keeping request order, into uncompressed batches no larger
 * than the topic's max.message.bytes; a single record that cannot fit is MESSAGE_TOO_LARGE.
 */
export async function buildBatches(topic: TopicItem, records: readonly ProduceRecord[]): Promise<{ parts: PartitionBatches[]; placements: Placement[] }> {
  const maxBytes = topic.configs['max.message.bytes'];
  rejectKeylessIfCompacted(topic, records);
  const partitions = choosePartitions(topic, records);
  const groups = new Map<number, BatchRecord[][]>();
  const sizes = new Map<number, number>();
  const placements: Placement[] = records.map((record, i) => {
    const partition = partitions[i] as number;
    const size = recordSizeBound(record);
    let batches = groups.get(partition);
    if (batches === undefined) {
      batches = [[]];
      groups.set(partition, batches);
      sizes.set(partition, BATCH_OVERHEAD_BYTES);
    }
    let current = batches[batches.length - 1] as BatchRecord[];
    if (current.length > 0 && (sizes.get(partition) as number) + size > maxBytes) {
      current = [];
      batches.push(current);
      sizes.set(partition, BATCH_OVERHEAD_BYTES);
    }
    const { partition: _explicit, ...batchRecord } = record;
    current.push(batchRecord);
    sizes.set(partition, (sizes.get(partition) as number) + size);
    return { partition, batch: batches.length - 1, index: current.length - 1 };
  });
  const parts = await Promise.all(
    [...groups].map(async ([partition, batches]) => ({
      partition,
      batches: await Promise.all(
        batches.map(async (batch) => {
          const bytes = await encodeRecordBatch(batch);
          if (bytes.length > maxBytes) {
            throw new SluiceError('MESSAGE_TOO_LARGE', `A record for partition ${partition} encodes to ${bytes.length} bytes; the topic's max.message.bytes is ${maxBytes}`);
          }
          return { bytes, header: readBatchHeader(bytes, 0) };
        }),
      ),
    })),
  );
  return { parts, placements };
}

/** Kafka's rule (LogValidator): a compacted topic keeps records by key, so each needs one. */
export function rejectKeylessIfCompacted(topic: TopicItem, records: ReadonlyArray<{ key: Buffer | null }>): void {
  if (topic.configs['cleanup.policy'] === 'delete') return;
  const index = records.findIndex((r) => r.key === null);
  if (index !== -1) throw new SluiceError('INVALID_RECORD', `Compacted topic ${JSON.stringify(topic.name)} cannot accept a record without a key (record ${index})`);
}
