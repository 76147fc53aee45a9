import { BatchGetCommand, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LIMITS } from '../config/defaults.ts';
import { readBatchHeader, setBaseOffset, type BatchHeader } from '../codec/record-batch.ts';
import { SluiceError } from '../errors.ts';
import { sleep } from '../retry.ts';
import type { Storage } from '../storage/clients.ts';
import { HEAD_SK, TOPICS_PK, indexSk, partitionPk, topicSk, type HeadItem, type IndexEntryItem, type TopicItem } from '../storage/schema.ts';
import { MissingObjectError, readObjectRange, type SegmentCache } from '../storage/segment-cache.ts';
import { headState, type PartitionState } from './topics.ts';

/** One stored batch as a fetch returns it: a private copy with its real base offset. */
export interface FetchedBatch {
  baseOffset: number;
  lastOffset: number;
  bytes: Buffer;
  header: BatchHeader;
}

export interface ReadResult {
  batches: FetchedBatch[];
  highWatermark: number;
  logStartOffset: number;
}

export interface ReadOptions {
  /** Byte budget; the first batch is returned whole even when larger (Kafka's KIP-74 rule). */
  maxBytes: number;
  /** The process-wide cache unless given (tests count cold reads with a fresh one). */
  cache?: SegmentCache;
}

/** OFFSET_OUT_OF_RANGE carrying both bounds, so a consumer can reset without another call. */
export function offsetOutOfRange(offset: number, state: { logStartOffset: number; highWatermark: number }, why = ''): SluiceError {
  return new SluiceError('OFFSET_OUT_OF_RANGE', `Offset ${offset} is outside the partition's range [${state.logStartOffset}, ${state.highWatermark}]${why}`, {
    details: { logStartOffset: state.logStartOffset, highWatermark: state.highWatermark },
  });
}

async function readHead(storage: Storage, pk: string): Promise<HeadItem | undefined> {
  const result = await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk, sk: HEAD_SK }, ConsistentRead: true }));
  return result.Item as HeadItem | undefined;
}

/** The partition's offsets right now. */
export async function readPartitionState(storage: Storage, topic: TopicItem, partition: number): Promise<PartitionState> {
  return headState(partition, await readHead(storage, partitionPk(topic.topicId, partition)));
}

/**
 * True when `entries` (sorted by last offset) are a torn view: the first does not hold
 * `offset`, or one does not start right after the one before (an overlap or a gap). A merge
 * swaps many entries in one transaction, but DynamoDB isolates a Query from a transaction
 * only per item, so a Query racing a merge on AWS can see some old entries beside the
 * merged one (duplicate offsets) or neither (skipped offsets). DynamoDB Local never shows it.
 */
export function isTornView(entries: readonly IndexEntryItem[], offset: number, highWatermark: number): boolean {
  if (entries.length === 0) return offset < highWatermark;
  if ((entries[0] as IndexEntryItem).baseOffset > offset) return true;
  return entries.some((entry, i) => i > 0 && entry.baseOffset !== (entries[i - 1] as IndexEntryItem).lastOffset + 1);
}

/** Re-reads of a torn view before giving up with a retriable error. */
const TORN_VIEW_ATTEMPTS = 5;

function queryIndex(storage: Storage, pk: string, offset: number) {
  return storage.ddb.send(
    new QueryCommand({
      TableName: storage.env.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': pk, ':from': indexSk(offset), ':to': 'S#~' },
      ConsistentRead: true,
      Limit: LIMITS.fetchIndexPageSize,
    }),
  );
}

/**
 * Reads whole batches from `offset` on: one consistent Query of the index (entries sort by
 * last offset, so the first one returned holds `offset`) alongside one read of the head,
 * then byte-range GETs of the objects, which are cached because they never change. A torn
 * view of a merge in progress (isTornView) is read again.
 */
export async function readPartition(storage: Storage, topic: TopicItem, partition: number, offset: number, options: ReadOptions): Promise<ReadResult> {
  const pk = partitionPk(topic.topicId, partition);
  let state: PartitionState;
  let entries: IndexEntryItem[];
  for (let attempt = 1; ; attempt++) {
    const [head, page] = await Promise.all([readHead(storage, pk), queryIndex(storage, pk, offset)]);
    state = headState(partition, head);
    if (offset < state.logStartOffset || offset > state.highWatermark) throw offsetOutOfRange(offset, state);
    const highWatermark = state.highWatermark;
    // The query may see commits newer than the head it ran beside; those wait for the next fetch.
    entries = ((page.Items ?? []) as IndexEntryItem[]).filter((e) => e.lastOffset < highWatermark && e.lastOffset >= offset);
    if (!isTornView(entries, offset, highWatermark)) break;
    if (attempt >= TORN_VIEW_ATTEMPTS) throw new SluiceError('CONCURRENT_TRANSACTIONS', `The index of partition ${partition} is being rewritten by compaction; retry the fetch`);
    await sleep(10 * attempt);
  }
  const bounds = { highWatermark: state.highWatermark, logStartOffset: state.logStartOffset };
  const maxBytes = Math.min(options.maxBytes, LIMITS.maxFetchResponseBytes);
  const chosen: IndexEntryItem[] = [];
  let planned = 0;
  for (const entry of entries) {
    if (chosen.length > 0 && planned + entry.byteLength > maxBytes) break;
    chosen.push(entry);
    planned += entry.byteLength;
  }
  let ranges: Buffer[];
  try {
    ranges = await mapLimited(chosen, LIMITS.fetchObjectConcurrency, (e) => readObjectRange(storage, e.objectKey, e.byteStart, e.byteLength, options.cache));
  } catch (error) {
    if (error instanceof MissingObjectError) throw offsetOutOfRange(offset, state, ': its segment has been removed by retention');
    throw error;
  }
  const batches: FetchedBatch[] = [];
  let used = 0;
  collect: for (const [i, entry] of chosen.entries()) {
    const range = ranges[i] as Buffer;
    let base = entry.baseOffset;
    for (let position = 0; position < range.length; ) {
      const header = readBatchHeader(range, position);
      const batchStart = position;
      const batchBase = base;
      const lastOffset = batchBase + header.lastOffsetDelta;
      base = lastOffset + 1;
      position += header.sizeBytes;
      if (lastOffset < offset) continue;
      if (batches.length > 0 && used + header.sizeBytes > maxBytes) break collect;
      const bytes = Buffer.from(range.subarray(batchStart, batchStart + header.sizeBytes));
      setBaseOffset(bytes, 0, batchBase);
      batches.push({ baseOffset: batchBase, lastOffset, bytes, header: { ...header, baseOffset: batchBase } });
      used += header.sizeBytes;
    }
  }
  return { batches, ...bounds };
}

/** Maps with at most `limit` calls in flight, keeping order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i] as T);
      }
    }),
  );
  return results;
}

/** How often a long poll also checks that its topic still exists (each check: one more item read). */
const LONG_POLL_TOPIC_CHECK_MS = 1000;

/**
 * Long poll: waits up to `waitMs` for the high watermark to pass `offset`, re-reading only
 * the head every LIMITS.longPollIntervalMs, and about once a second with it, in the same
 * BatchGetItem, the topic item: a topic deleted (or re-created) meanwhile ends the wait
 * within a second with UNKNOWN_TOPIC_OR_PARTITION, not after the full wait on a dead incarnation.
 */
export async function waitForData(storage: Storage, topic: TopicItem, partition: number, offset: number, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  const pk = partitionPk(topic.topicId, partition);
  let topicCheckDueMs = Date.now() + LONG_POLL_TOPIC_CHECK_MS;
  while (Date.now() < deadline) {
    let head: HeadItem | undefined;
    if (Date.now() < topicCheckDueMs) {
      head = await readHead(storage, pk);
    } else {
      const read = await readHeadAndTopicId(storage, pk, topic.name);
      if (read.topicId !== topic.topicId) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(topic.name)} was deleted while the fetch waited`);
      head = read.head;
      topicCheckDueMs = Date.now() + LONG_POLL_TOPIC_CHECK_MS;
    }
    const state = headState(partition, head);
    if (state.highWatermark > offset || offset < state.logStartOffset) return;
    await sleep(Math.min(LIMITS.longPollIntervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** One consistent BatchGetItem of a partition's head and its topic's live topicId (undefined: deleted). */
async function readHeadAndTopicId(storage: Storage, pk: string, topicName: string): Promise<{ head: HeadItem | undefined; topicId: string | undefined }> {
  const table = storage.env.tableName;
  const found: Record<string, unknown>[] = [];
  let pending: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
    [table]: { Keys: [{ pk, sk: HEAD_SK }, { pk: TOPICS_PK, sk: topicSk(topicName) }], ConsistentRead: true },
  };
  while (pending !== undefined && Object.keys(pending).length > 0) {
    const result = await storage.ddb.send(new BatchGetCommand({ RequestItems: pending }));
    found.push(...(result.Responses?.[table] ?? []));
    pending = result.UnprocessedKeys as typeof pending;
  }
  const topicItem = found.find((item) => item.pk === TOPICS_PK);
  return { head: found.find((item) => item.pk === pk) as HeadItem | undefined, topicId: typeof topicItem?.topicId === 'string' ? topicItem.topicId : undefined };
}
