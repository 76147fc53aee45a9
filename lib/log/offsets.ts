import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DecodeBudget } from '../codec/decode-budget.ts';
import { openRecordBatch, readBatchHeader, setBaseOffset } from '../codec/record-batch.ts';
import type { Storage } from '../storage/clients.ts';
import { indexSk, partitionPk, type IndexEntryItem, type TopicItem } from '../storage/schema.ts';
import { MissingObjectError, readObjectRange } from '../storage/segment-cache.ts';
import { readPartitionState } from './read.ts';

export type OffsetSpec = number | 'earliest' | 'latest';

export interface OffsetLookup {
  offset: number;
  /** Timestamp of the record found; null for earliest/latest and when no record is that new. */
  timestamp: number | null;
  logStartOffset: number;
  highWatermark: number;
}

/**
 * Kafka's ListOffsets: `earliest` is the log start, `latest` the high watermark, and a
 * timestamp gives the first offset whose record timestamp is at or after it (the high
 * watermark when none is). Index entries carry their max timestamp, so only the first
 * entry that can hold a match is read from S3, and inside it only batches whose header's
 * maxTimestamp can hold one are decoded. All decoding is charged to one budget per lookup.
 */
export async function lookupOffset(storage: Storage, topic: TopicItem, partition: number, spec: OffsetSpec): Promise<OffsetLookup> {
  const state = await readPartitionState(storage, topic, partition);
  const bounds = { logStartOffset: state.logStartOffset, highWatermark: state.highWatermark };
  if (spec === 'earliest') return { offset: state.logStartOffset, timestamp: null, ...bounds };
  if (spec === 'latest') return { offset: state.highWatermark, timestamp: null, ...bounds };
  const budget = new DecodeBudget('This lookup');
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await storage.ddb.send(
      new QueryCommand({
        TableName: storage.env.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        FilterExpression: 'maxTimestamp >= :ts',
        ExpressionAttributeValues: { ':pk': partitionPk(topic.topicId, partition), ':from': indexSk(state.logStartOffset), ':to': 'S#~', ':ts': spec },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const entry of (page.Items ?? []) as IndexEntryItem[]) {
      const found = await firstAtOrAfter(storage, entry, spec, state.logStartOffset, budget);
      if (found !== undefined) return { ...found, ...bounds };
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return { offset: state.highWatermark, timestamp: null, ...bounds };
}

async function firstAtOrAfter(storage: Storage, entry: IndexEntryItem, timestampMs: number, minOffset: number, budget: DecodeBudget): Promise<{ offset: number; timestamp: number } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readObjectRange(storage, entry.objectKey, entry.byteStart, entry.byteLength);
  } catch (error) {
    // Removed by retention since the index was read: nothing at or after it lives there.
    if (error instanceof MissingObjectError) return undefined;
    throw error;
  }
  let base = entry.baseOffset;
  for (let position = 0; position < bytes.length; ) {
    const header = readBatchHeader(bytes, position);
    // Kafka's rule too: a batch whose maxTimestamp is older holds no match, so it is not decoded.
    if (header.maxTimestamp >= timestampMs && base + header.lastOffsetDelta >= minOffset) {
      const batch = Buffer.from(bytes.subarray(position, position + header.sizeBytes));
      setBaseOffset(batch, 0, base);
      const reader = await openRecordBatch(batch, 0, budget);
      if (base < minOffset) await reader.skipTo(minOffset);
      for (let r = reader.next(); r !== undefined; r = reader.next()) {
        if (r.timestamp >= timestampMs) return { offset: r.offset, timestamp: r.timestamp };
      }
    }
    base += header.lastOffsetDelta + 1;
    position += header.sizeBytes;
  }
  return undefined;
}
