import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { queryPages } from '../storage/query-pages.ts';
import type { Storage } from '../storage/clients.ts';
import { indexSk, type IndexEntryItem } from '../storage/schema.ts';

/** Sorts after every index sort key (`S#` + digits). */
const INDEX_SK_END = 'S#~';

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
  const pages = queryPages<T>(storage, { KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)', ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix }, ConsistentRead: true });
  for await (const page of pages) {
    items.push(...page);
    if (items.length >= limit) break;
  }
  return items.slice(0, limit);
}

/**
 * The partition's index entries in offset order, from `fromOffset` on, one DynamoDB page at
 * a time: callers stop reading as soon as they have what they need, and memory stays flat
 * however long the log. `pageSize` caps a page's items (a page is at most 1 MB anyway).
 * `consistent: false` halves the read cost where a stale view is safe (orphan sweeps).
 */
export function indexPages(storage: Storage, pk: string, options: { fromOffset?: number; pageSize?: number; consistent?: boolean } = {}): AsyncGenerator<IndexEntryItem[]> {
  return queryPages<IndexEntryItem>(storage, {
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: { ':pk': pk, ':from': indexSk(options.fromOffset ?? 0), ':to': INDEX_SK_END },
    ConsistentRead: options.consistent ?? true,
    ...(options.pageSize === undefined ? {} : { Limit: options.pageSize }),
  });
}

/**
 * One consistent page of index entries from `fromOffset` on (up to `limit`, and DynamoDB's
 * 1 MB), and whether more follow: for readers whose page size changes as they go.
 */
export async function readIndexPage(storage: Storage, pk: string, fromOffset: number, limit: number): Promise<{ entries: IndexEntryItem[]; more: boolean }> {
  const page = await storage.ddb.send(
    new QueryCommand({
      TableName: storage.env.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': pk, ':from': indexSk(fromOffset), ':to': INDEX_SK_END },
      ConsistentRead: true,
      Limit: limit,
    }),
  );
  return { entries: (page.Items ?? []) as IndexEntryItem[], more: page.LastEvaluatedKey !== undefined };
}

/**
 * Every index entry of the partition from `fromOffset` on (the log start, for readers that
 * resolve entries: below it are cut entries, whose objects may be gone), in offset order.
 * Only for work that needs the whole log at once (key compaction); everything else reads
 * pages with indexPages.
 */
export async function readIndex(storage: Storage, pk: string, fromOffset = 0): Promise<IndexEntryItem[]> {
  const entries: IndexEntryItem[] = [];
  for await (const page of indexPages(storage, pk, { fromOffset })) entries.push(...page);
  return entries;
}

/** Objects waiting for deletion. */
export function readPendingDeletes(storage: Storage, pk: string): Promise<PendingDeleteItem[]> {
  return queryPrefix<PendingDeleteItem>(storage, pk, PENDING_DELETE_PREFIX);
}
