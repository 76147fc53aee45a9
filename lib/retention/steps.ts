/**
 * The steps of a compaction run, each a conditional write on the state it read, ordered so
 * that a crash between any two leaves a readable log and only garbage that a later run
 * collects:
 *
 *   retention:  log start up, entries cut (one conditional write) → objects, then entries, out after grace (removal.ts)
 *   merge:      new object in → index swap (one transaction) → old objects out after grace
 */
import { DeleteObjectCommand, PutObjectTaggingCommand } from '@aws-sdk/client-s3';
import { putSegmentObject } from '../storage/segment-objects.ts';
import { DeleteCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';
import { HEAD_SK, type IndexEntryItem, type TopicItem } from '../storage/schema.ts';
import { readObjectRange } from '../storage/segment-cache.ts';
import { pendingDelete, type PendingDeleteItem } from './partition-items.ts';
import { EXPIRY_TAG } from './lifecycle.ts';
import type { RemovalHooks } from './removal.ts';

/** Crash-injection seams for tests. */
export interface CompactionHooks extends RemovalHooks {
  afterMergedObject?: () => Promise<void>;
  afterIndexSwap?: () => Promise<void>;
  /** After retention's cut commits (the log start raised), before the release is marked. */
  afterRetentionCommit?: () => Promise<void>;
  beforeObjectDeletes?: () => Promise<void>;
  /** Between an object's new lifecycle tag and its entry's record of it. */
  afterObjectRetagged?: () => Promise<void>;
  /** After an orphan sweep step has listed and checked its objects, before it deletes any. */
  beforeOrphanDeletes?: () => Promise<void>;
  /** Between the new DUE item and the partition's state naming it. */
  afterDueWritten?: () => Promise<void>;
}

/**
 * The head update a compaction transaction carries: sizes adjusted by deltas (ADD commutes
 * with concurrent appends, so no condition on them is needed), the head required to exist,
 * and, with `entriesFrom` (the lowest last offset among the entries the transaction
 * rewrites), those entries required to be still in the log, not cut by retention
 * (removedBelowOffset, lib/retention/removal.ts): their sizes are counted only there.
 * Every caller adjusts at least one size.
 */
export function adjustHead(tableName: string, pk: string, change: { bytes?: number; segments?: number; entriesFrom?: number }) {
  const names: Record<string, string> = {};
  const values: Record<string, number> = {};
  const adds: string[] = [];
  for (const field of ['bytes', 'segments'] as const) {
    if (change[field] === undefined) continue;
    names[`#${field}`] = field;
    values[`:${field}`] = change[field];
    adds.push(`#${field} :${field}`);
  }
  let condition = 'attribute_exists(pk)';
  if (change.entriesFrom !== undefined) {
    values[':entriesFrom'] = change.entriesFrom;
    condition += ' AND (attribute_not_exists(removedBelowOffset) OR removedBelowOffset <= :entriesFrom)';
  }
  return {
    Update: {
      TableName: tableName,
      Key: { pk, sk: HEAD_SK },
      UpdateExpression: `ADD ${adds.join(', ')}`,
      ConditionExpression: condition,
      ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
      ExpressionAttributeValues: values,
    },
  };
}

/**
 * Merges a run of adjacent entries into one object: the batches' bytes are concatenated
 * unchanged (base offsets stay 0, and the entries are dense, so every offset is kept),
 * written as a new object, then swapped into the index in one transaction conditioned on
 * every old entry being unchanged. Returns false when the run changed under us.
 */
export async function mergeRun(storage: Storage, topic: TopicItem, partition: number, pk: string, run: readonly IndexEntryItem[], nowMs: number, deleteAfterMs: number | (() => number), hooks: CompactionHooks = {}): Promise<boolean> {
  const graceEnd = typeof deleteAfterMs === 'number' ? () => deleteAfterMs : deleteAfterMs;
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
          adjustHead(storage.env.tableName, pk, { segments: -(run.length - 1), entriesFrom: first.lastOffset }),
          ...run.slice(0, -1).map((entry) => ({
            Delete: { TableName: storage.env.tableName, Key: { pk, sk: entry.sk }, ConditionExpression: 'objectKey = :key', ExpressionAttributeValues: { ':key': entry.objectKey } },
          })),
          { Put: { TableName: storage.env.tableName, Item: merged, ConditionExpression: 'objectKey = :key', ExpressionAttributeValues: { ':key': last.objectKey } } },
          ...run.map((entry) => ({ Put: { TableName: storage.env.tableName, Item: pendingDelete(entry, graceEnd()) } })),
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

/**
 * Deletes queued objects whose grace period is over: the object first, then its queue item.
 * Each item's due time is compared with the clock when it is reached, not when the run began.
 */
export async function deleteDueObjects(storage: Storage, pending: readonly PendingDeleteItem[], clock: () => number, hooks: CompactionHooks = {}): Promise<number> {
  let deleted = 0;
  for (const item of pending) {
    if (item.deleteAfterMs > clock()) continue;
    if (deleted === 0) await hooks.beforeObjectDeletes?.();
    await storage.s3.send(new DeleteObjectCommand({ Bucket: storage.env.bucketName, Key: item.objectKey }));
    await storage.ddb.send(new DeleteCommand({ TableName: storage.env.tableName, Key: { pk: item.pk, sk: item.sk } }));
    deleted++;
  }
  return deleted;
}

/**
 * Gives one indexed object a new lifecycle tag (lib/retention/lifecycle.ts) and records it
 * on its entry, conditional on the entry still naming the object. The tag goes first: a
 * crash between the two leaves a longer tag than recorded, which the next check renews.
 */
export async function retagEntry(storage: Storage, entry: IndexEntryItem, days: number, hooks: CompactionHooks = {}): Promise<void> {
  const TagSet = days === 0 ? [] : [{ Key: EXPIRY_TAG, Value: String(days) }];
  await storage.s3.send(new PutObjectTaggingCommand({ Bucket: storage.env.bucketName, Key: entry.objectKey, Tagging: { TagSet } }));
  await hooks.afterObjectRetagged?.();
  await storage.ddb
    .send(
      new UpdateCommand({
        TableName: storage.env.tableName,
        Key: { pk: entry.pk, sk: entry.sk },
        UpdateExpression: 'SET expireDays = :days',
        ConditionExpression: 'objectKey = :key',
        ExpressionAttributeValues: { ':days': days, ':key': entry.objectKey },
      }),
    )
    .catch((error: { name?: string }) => {
      // Merged or removed meanwhile: the entry no longer names this object.
      if (error.name !== 'ConditionalCheckFailedException') throw error;
    });
}
