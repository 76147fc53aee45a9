import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';
import type { IndexEntryItem } from '../storage/schema.ts';

/** An object whose index entry is gone, to be deleted from S3 once `deleteAfterMs` passes. */
export interface PendingDeleteItem {
  pk: string;
  /** `G#<objectKey>` */
  sk: string;
  objectKey: string;
  deleteAfterMs: number;
}

export const PENDING_DELETE_PREFIX = 'G#';

/** Sort key of the pending deletion of `objectKey`. */
export function pendingDeleteSk(objectKey: string): string {
  return `${PENDING_DELETE_PREFIX}${objectKey}`;
}

/** The queue item that deletes `entry`'s object once `deleteAfterMs` passes. */
export function pendingDelete(entry: IndexEntryItem, deleteAfterMs: number): PendingDeleteItem {
  return { pk: entry.pk, sk: pendingDeleteSk(entry.objectKey), objectKey: entry.objectKey, deleteAfterMs };
}

/** Items of partition `pk` whose sort key begins with `prefix`, in order, up to `limit`. */
export async function queryPrefix<T>(storage: Storage, pk: string, prefix: string, limit = Number.POSITIVE_INFINITY): Promise<T[]> {
  const items: T[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await storage.ddb.send(
      new QueryCommand({
        TableName: storage.env.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...((page.Items ?? []) as T[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined && items.length < limit);
  return items.slice(0, limit);
}

/**
 * The partition's index entries in offset order. One run looks at no more than `limit`
 * entries, so a run's time stays bounded however long the log; the rest wait for the next.
 */
export function readIndex(storage: Storage, pk: string, limit = 20_000): Promise<IndexEntryItem[]> {
  return queryPrefix<IndexEntryItem>(storage, pk, 'S#', limit);
}

/** Objects waiting for deletion. */
export function readPendingDeletes(storage: Storage, pk: string): Promise<PendingDeleteItem[]> {
  return queryPrefix<PendingDeleteItem>(storage, pk, PENDING_DELETE_PREFIX);
}
