/**
 * The steps of a compaction run, each a conditional write on the state it read, ordered so
 * that a crash between any two leaves a readable log and only garbage that a later run
 * collects:
 *
 *   retention:  index entries out + log start up (one transaction) → objects out after grace
 *   merge:      new object in → index swap (one transaction) → old objects out after grace
 */
import { DeleteObjectCommand, PutObjectTaggingCommand } from '@aws-sdk/client-s3';
import { putSegmentObject } from '../storage/segment-objects.ts';
import { DeleteCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';
import { HEAD_SK, type IndexEntryItem, type TopicItem } from '../storage/schema.ts';
import { readObjectRange } from '../storage/segment-cache.ts';
import { pendingDelete, type PendingDeleteItem } from './partition-items.ts';
import { EXPIRY_TAG, expiryDaysFor, needsRetag } from './lifecycle.ts';

/** Crash-injection seams for tests. */
export interface CompactionHooks {
  afterMergedObject?: () => Promise<void>;
  afterIndexSwap?: () => Promise<void>;
  afterRetentionCommit?: () => Promise<void>;
  beforeObjectDeletes?: () => Promise<void>;
}

/**
 * The head update a compaction transaction carries: sizes adjusted by deltas (ADD commutes
 * with concurrent appends, so no condition on them is needed), the log start optionally
 * raised, and the head required to exist.
 */
export function adjustHead(tableName: string, pk: string, change: { bytes?: number; segments?: number; logStartOffset?: number }) {
  const names: Record<string, string> = {};
  const values: Record<string, number> = {};
  const adds: string[] = [];
  for (const field of ['bytes', 'segments'] as const) {
    if (change[field] === undefined) continue;
    names[`#${field}`] = field;
    values[`:${field}`] = change[field];
    adds.push(`#${field} :${field}`);
  }
  let update = adds.length > 0 ? `ADD ${adds.join(', ')}` : '';
  let condition = 'attribute_exists(pk)';
  if (change.logStartOffset !== undefined) {
    values[':start'] = change.logStartOffset;
    update = `SET logStartOffset = :start ${update}`;
    condition += ' AND logStartOffset <= :start';
  }
  return {
    Update: {
      TableName: tableName,
      Key: { pk, sk: HEAD_SK },
      UpdateExpression: update.trim(),
      ConditionExpression: condition,
      ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
      ExpressionAttributeValues: values,
    },
  };
}

/** Entries removed per transaction: a head update plus a delete and a pending-delete per entry. */
const ENTRIES_PER_TRANSACTION = 49;

/**
 * Removes the oldest entries and raises the log start offset, conditional on each entry
 * still pointing at its object and on the log start not having moved past `logStartOffset`.
 * Objects are only queued for deletion; readers in flight keep them for the grace period.
 */
export async function removeOldest(storage: Storage, pk: string, remove: readonly IndexEntryItem[], logStartOffset: number, deleteAfterMs: number): Promise<void> {
  for (let i = 0; i < remove.length; i += ENTRIES_PER_TRANSACTION) {
    const chunk = remove.slice(i, i + ENTRIES_PER_TRANSACTION);
    const last = i + chunk.length === remove.length;
    // Intermediate chunks raise the start only to the first offset they leave.
    const startAfter = last ? logStartOffset : (remove[i + chunk.length] as IndexEntryItem).baseOffset;
    await storage.ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          adjustHead(storage.env.tableName, pk, { logStartOffset: startAfter, bytes: -chunk.reduce((n, e) => n + e.byteLength, 0), segments: -chunk.length }),
          ...chunk.map((entry) => ({
            Delete: { TableName: storage.env.tableName, Key: { pk, sk: entry.sk }, ConditionExpression: 'objectKey = :key', ExpressionAttributeValues: { ':key': entry.objectKey } },
          })),
          ...chunk.map((entry) => ({ Put: { TableName: storage.env.tableName, Item: pendingDelete(entry, deleteAfterMs) } })),
        ],
      }),
    );
  }
}

/**
 * Merges a run of adjacent entries into one object: the batches' bytes are concatenated
 * unchanged (base offsets stay 0, and the entries are dense, so every offset is kept),
 * written as a new object, then swapped into the index in one transaction conditioned on
 * every old entry being unchanged. Returns false when the run changed under us.
 */
export async function mergeRun(storage: Storage, topic: TopicItem, partition: number, pk: string, run: readonly IndexEntryItem[], nowMs: number, deleteAfterMs: number, hooks: CompactionHooks = {}): Promise<boolean> {
  const parts = await Promise.all(run.map((e) => readObjectRange(storage, e.objectKey, e.byteStart, e.byteLength)));
  const body = Buffer.concat(parts);
  const first = run[0] as IndexEntryItem;
  const last = run[run.length - 1] as IndexEntryItem;
  const { objectKey, expireDays } = await putSegmentObject(storage, topic, partition, 'merged', body, nowMs);
  await hooks.afterMergedObject?.();
  const merged: IndexEntryItem = {
    pk,
    sk: last.sk,
    baseOffset: first.baseOffset,
    lastOffset: last.lastOffset,
    recordCount: run.reduce((n, e) => n + e.recordCount, 0),
    objectKey,
    byteStart: 0,
    byteLength: body.length,
    maxTimestamp: Math.max(...run.map((e) => e.maxTimestamp)),
    batchCount: run.reduce((n, e) => n + e.batchCount, 0),
    createdAtMs: nowMs,
    expireDays,
  };
  try {
    await storage.ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          adjustHead(storage.env.tableName, pk, { segments: -(run.length - 1) }),
          ...run.slice(0, -1).map((entry) => ({
            Delete: { TableName: storage.env.tableName, Key: { pk, sk: entry.sk }, ConditionExpression: 'objectKey = :key', ExpressionAttributeValues: { ':key': entry.objectKey } },
          })),
          { Put: { TableName: storage.env.tableName, Item: merged, ConditionExpression: 'objectKey = :key', ExpressionAttributeValues: { ':key': last.objectKey } } },
          ...run.map((entry) => ({ Put: { TableName: storage.env.tableName, Item: pendingDelete(entry, deleteAfterMs) } })),
        ],
      }),
    );
  } catch (error) {
    if ((error as { name?: string }).name !== 'TransactionCanceledException') throw error;
    // Lost to retention or another merge: our new object is now an orphan; queue it at once.
    await storage.s3.send(new DeleteObjectCommand({ Bucket: storage.env.bucketName, Key: objectKey }));
    return false;
  }
  await hooks.afterIndexSwap?.();
  return true;
}

/** Deletes queued objects whose grace period is over: the object first, then its queue item. */
export async function deleteDueObjects(storage: Storage, pending: readonly PendingDeleteItem[], nowMs: number, hooks: CompactionHooks = {}): Promise<number> {
  const due = pending.filter((p) => p.deleteAfterMs <= nowMs);
  if (due.length > 0) await hooks.beforeObjectDeletes?.();
  for (const item of due) {
    await storage.s3.send(new DeleteObjectCommand({ Bucket: storage.env.bucketName, Key: item.objectKey }));
    await storage.ddb.send(new DeleteCommand({ TableName: storage.env.tableName, Key: { pk: item.pk, sk: item.sk } }));
  }
  return due.length;
}

/**
 * After retention.ms grew: gives objects whose lifecycle tag could expire them too early
 * the topic's current tag, and records it on their entries (conditional on the entry still
 * naming the object). Returns how many were re-tagged.
 */
export async function retagEntries(storage: Storage, topic: TopicItem, entries: readonly IndexEntryItem[]): Promise<number> {
  const desired = expiryDaysFor(topic.configs);
  let retagged = 0;
  for (const entry of entries) {
    if (!needsRetag(entry.expireDays ?? 0, desired)) continue;
    const TagSet = desired === 0 ? [] : [{ Key: EXPIRY_TAG, Value: String(desired) }];
    await storage.s3.send(new PutObjectTaggingCommand({ Bucket: storage.env.bucketName, Key: entry.objectKey, Tagging: { TagSet } }));
    await storage.ddb
      .send(
        new UpdateCommand({
          TableName: storage.env.tableName,
          Key: { pk: entry.pk, sk: entry.sk },
          UpdateExpression: 'SET expireDays = :days',
          ConditionExpression: 'objectKey = :key',
          ExpressionAttributeValues: { ':days': desired, ':key': entry.objectKey },
        }),
      )
      .catch((error: { name?: string }) => {
        // Merged or removed meanwhile: the new object carries the current tag already.
        if (error.name !== 'ConditionalCheckFailedException') throw error;
      });
    retagged++;
  }
  return retagged;
}
