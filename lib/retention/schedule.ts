/**
 * When each partition next needs the compact function, and where its last visit stopped.
 *
 *   pk                         sk                                   item
 *   DUE                        <dueAtMs, 15 digits>#<topicId>#<p>   DueItem: the due-time index
 *   SCHEDULE                   DISCOVERY                            when the pass next looks for unscheduled partitions
 *   P#<topicId>#<partition>    COMPACTION                           CompactionStateItem: cursors, due time
 *
 * The scheduled pass reads only the DUE items whose time has come (one Query), so a
 * partition with nothing due costs nothing per pass, however many partitions exist. Each
 * visit writes its partition's next due time: the earliest of its next orphan sweep, its
 * earliest queued deletion, and "now" when it stopped early. A crash between writing the
 * new DUE item and deleting the old one leaves a duplicate, which costs one extra visit.
 */
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { queryPages } from '../storage/query-pages.ts';
import type { Storage } from '../storage/clients.ts';
import type { ReleaseMark } from './removal.ts';

export const DUE_PK = 'DUE';
const SCHEDULE_PK = 'SCHEDULE';
const DISCOVERY_SK = 'DISCOVERY';
export const STATE_SK = 'COMPACTION';

/** One partition's place in the due-time index. */
export interface DueItem {
  pk: typeof DUE_PK;
  /** `<dueAtMs, 15 digits>#<topicId>#<partition>`: string order is due order. */
  sk: string;
  topic: string;
  topicId: string;
  partition: number;
  dueAtMs: number;
}

/** What a partition's compaction remembers between visits. Written only under its lease. */
export interface CompactionStateItem {
  pk: string;
  sk: typeof STATE_SK;
  /** Merging plans from this offset; entries below it are settled. Never decreases. */
  mergeFromOffset: number;
  /** The orphan sweep in progress continues after this object key; absent: none in progress. */
  sweepAfterKey?: string;
  /** When the sweep in progress (or the last one) started. */
  sweepStartedAtMs?: number;
  /** When the next orphan sweep starts. */
  nextSweepAtMs: number;
  /**
   * The lifecycle rung every entry was last checked against (lib/retention/lifecycle.ts);
   * when the topic's rung grows past it, the next visit re-tags the whole log.
   */
  taggedDays?: number;
  /** Sort key of the partition's DUE item, so the next visit can replace it. */
  dueSk?: string;
  /**
   * Cut entries waiting for their grace period (lib/retention/removal.ts): every entry below
   * a mark's belowOffset is released once its afterMs passes. Ascending in both.
   */
  releases?: ReleaseMark[];
  /** Every entry below this has been released. Never decreases. */
  releasedBelowOffset?: number;
}

/** Sort key of a DUE item. */
export function dueSk(dueAtMs: number, topicId: string, partition: number): string {
  return `${Math.max(0, Math.floor(dueAtMs)).toString().padStart(15, '0')}#${topicId}#${partition}`;
}

/** The partition's state, or a fresh one (everything due now) before its first visit. */
export async function readCompactionState(storage: Storage, pk: string, nowMs: number): Promise<CompactionStateItem> {
  const result = await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk, sk: STATE_SK }, ConsistentRead: true }));
  return (result.Item as CompactionStateItem | undefined) ?? { pk, sk: STATE_SK, mergeFromOffset: 0, nextSweepAtMs: nowMs };
}

/** The partitions among `pks` that have a DUE item (their state names one), read 100 keys a request. */
export async function scheduledPartitions(storage: Storage, pks: readonly string[]): Promise<Set<string>> {
  const scheduled = new Set<string>();
  const table = storage.env.tableName;
  for (let i = 0; i < pks.length; i += 100) {
    let pending: Record<string, { Keys: Record<string, unknown>[]; ProjectionExpression: string; ExpressionAttributeNames: Record<string, string> }> | undefined = {
      [table]: { Keys: pks.slice(i, i + 100).map((pk) => ({ pk, sk: STATE_SK })), ProjectionExpression: '#pk, dueSk', ExpressionAttributeNames: { '#pk': 'pk' } },
    };
    while (pending !== undefined && Object.keys(pending).length > 0) {
      const result = await storage.ddb.send(new BatchGetCommand({ RequestItems: pending }));
      for (const item of result.Responses?.[table] ?? []) if (item.dueSk !== undefined) scheduled.add(String(item.pk));
      pending = result.UnprocessedKeys as typeof pending;
    }
  }
  return scheduled;
}

/**
 * Saves the state and moves the partition's DUE item to `dueAtMs`: the new item first, then
 * the state naming it, then the old item out, so a crash never leaves a partition unscheduled.
 */
export async function saveCompactionState(storage: Storage, state: CompactionStateItem, partition: { topic: string; topicId: string; partition: number }, dueAtMs: number, afterDueWritten?: () => Promise<void>): Promise<CompactionStateItem> {
  const table = storage.env.tableName;
  const sk = dueSk(dueAtMs, partition.topicId, partition.partition);
  const due: DueItem = { pk: DUE_PK, sk, dueAtMs, ...partition };
  await storage.ddb.send(new PutCommand({ TableName: table, Item: due }));
  await afterDueWritten?.();
  const saved: CompactionStateItem = { ...state, dueSk: sk };
  await storage.ddb.send(new PutCommand({ TableName: table, Item: saved }));
  if (state.dueSk !== undefined && state.dueSk !== sk) await removeDue(storage, state.dueSk);
  return saved;
}

/** Removes one DUE item (a stale duplicate, or a dead topic's). */
export async function removeDue(storage: Storage, sk: string): Promise<void> {
  await storage.ddb.send(new DeleteCommand({ TableName: storage.env.tableName, Key: { pk: DUE_PK, sk } }));
}

/** Puts a partition into the due-time index at `dueAtMs` without touching its state (discovery). */
export async function scheduleNew(storage: Storage, partition: { topic: string; topicId: string; partition: number }, dueAtMs: number): Promise<void> {
  const item: DueItem = { pk: DUE_PK, sk: dueSk(dueAtMs, partition.topicId, partition.partition), dueAtMs, ...partition };
  await storage.ddb.send(new PutCommand({ TableName: storage.env.tableName, Item: item }));
}

/** DUE items whose time is at or before `nowMs`, most overdue first, a page at a time. */
export function duePartitions(storage: Storage, nowMs: number, pageSize = 100): AsyncGenerator<DueItem[]> {
  return queryPages<DueItem>(storage, {
    KeyConditionExpression: 'pk = :pk AND sk <= :now',
    ExpressionAttributeValues: { ':pk': DUE_PK, ':now': `${dueSk(nowMs, '', 0).slice(0, 15)}#~` },
    Limit: pageSize,
  });
}

/** When the longest-waiting partition became due (ms), or undefined when none is due at `nowMs`: one item read. */
export async function oldestDueAtMs(storage: Storage, nowMs: number): Promise<number | undefined> {
  for await (const page of duePartitions(storage, nowMs, 1)) {
    if (page[0] !== undefined) return page[0].dueAtMs;
  }
  return undefined;
}

/** The lifecycle rung each topic's partitions were last scheduled for re-tagging at, by topicId. */
export async function readTaggedRungs(storage: Storage): Promise<Map<string, number>> {
  const rungs = new Map<string, number>();
  const pages = queryPages<{ sk: string; days: number }>(storage, { KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)', ExpressionAttributeValues: { ':pk': SCHEDULE_PK, ':prefix': 'TAGGED#' } });
  for await (const page of pages) for (const item of page) rungs.set(String(item.sk).slice('TAGGED#'.length), Number(item.days));
  return rungs;
}

/** Records that a topic's partitions were scheduled to re-tag at rung `days`. */
export async function recordTaggedRung(storage: Storage, topicId: string, days: number): Promise<void> {
  await storage.ddb.send(new PutCommand({ TableName: storage.env.tableName, Item: { pk: SCHEDULE_PK, sk: `TAGGED#${topicId}`, days } }));
}

/** True (and the next discovery booked) when the pass should look for partitions not yet scheduled. */
export async function claimDiscovery(storage: Storage, nowMs: number, intervalMs: number): Promise<boolean> {
  try {
    await storage.ddb.send(
      new PutCommand({
        TableName: storage.env.tableName,
        Item: { pk: SCHEDULE_PK, sk: DISCOVERY_SK, nextAtMs: nowMs + intervalMs },
        ConditionExpression: 'attribute_not_exists(pk) OR nextAtMs <= :now',
        ExpressionAttributeValues: { ':now': nowMs },
      }),
    );
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}
