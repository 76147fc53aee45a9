/**
 * Production-sized partition states built directly in DynamoDB Local: BatchWriteItem puts
 * 20,000 index entries in seconds, where producing them through the API would take minutes.
 */
import { BatchWriteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { createStorage, type Storage } from '../../lib/storage/clients.ts';
import { HEAD_SK, indexSk, partitionPk, partitionPrefix, type IndexEntryItem, type TopicItem } from '../../lib/storage/schema.ts';

export interface SyntheticEntries {
  count: number;
  /** Bytes each entry claims; at or above smallSegmentBytes keeps merging away from them. */
  byteLength: number;
  /** Record timestamp of every entry. */
  maxTimestamp: number;
  expireDays?: number;
}

/**
 * Writes `count` index entries for offsets 0..count-1 of partition 0 (one record each, naming
 * objects that were never written) and a head that accounts for them, so that real appends
 * continue at offset `count`.
 */
export async function writeSyntheticEntries(storage: Storage, topic: TopicItem, spec: SyntheticEntries): Promise<void> {
  const pk = partitionPk(topic.topicId, 0);
  const prefix = partitionPrefix(topic.name, 0, topic.topicId);
  const items: IndexEntryItem[] = Array.from({ length: spec.count }, (_, offset) => ({
    pk,
    sk: indexSk(offset),
    baseOffset: offset,
    lastOffset: offset,
    recordCount: 1,
    objectKey: `${prefix}000000000000001-produced-synthetic-${offset}.kafka`,
    byteStart: 0,
    byteLength: spec.byteLength,
    maxTimestamp: spec.maxTimestamp,
    batchCount: 1,
    createdAtMs: 1,
    expireDays: spec.expireDays ?? 0,
  }));
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < items.length) {
        const chunk = items.slice(next, next + 25);
        next += 25;
        let requests: Record<string, Array<{ PutRequest: { Item: Record<string, unknown> } }>> | undefined = { [storage.env.tableName]: chunk.map((Item) => ({ PutRequest: { Item: { ...Item } } })) };
        while (requests !== undefined && (requests[storage.env.tableName]?.length ?? 0) > 0) {
          const result = await storage.ddb.send(new BatchWriteCommand({ RequestItems: requests }));
          requests = result.UnprocessedItems as typeof requests;
        }
      }
    }),
  );
  await storage.ddb.send(
    new PutCommand({ TableName: storage.env.tableName, Item: { pk, sk: HEAD_SK, nextOffset: spec.count, logStartOffset: 0, bytes: spec.count * spec.byteLength, segments: spec.count } }),
  );
}

/** A Storage whose clients count requests by command name. */
export function countingStorage(base: Storage): { storage: Storage; s3: Record<string, number>; dynamo: Record<string, number> } {
  const storage = createStorage(base.env);
  const s3: Record<string, number> = {};
  const dynamo: Record<string, number> = {};
  const count = (into: Record<string, number>, name: unknown) => (into[String(name)] = (into[String(name)] ?? 0) + 1);
  storage.s3.middlewareStack.add((next, context) => async (args) => (count(s3, context.commandName), next(args)), { step: 'initialize' });
  storage.ddb.middlewareStack.add((next, context) => async (args) => (count(dynamo, context.commandName), next(args)), { step: 'initialize' });
  return { storage, s3, dynamo };
}
