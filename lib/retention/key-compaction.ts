/**
 * cleanup.policy=compact, as Kafka's log cleaner: for every key only the record with the
 * latest offset is kept; a key whose latest record is a tombstone (null value) disappears
 * once the tombstone is older than delete.retention.ms. Offsets never change: consumers
 * see gaps. The newest entry (Kafka's active segment) and entries with records younger
 * than min.compaction.lag.ms are never cleaned.
 *
 * Deviation from Kafka: tombstones age by their record timestamp, not by the time their
 * segment was first cleaned. Kafka keeps empty batches only for producer state; here a
 * batch whose records are all removed stays as an empty batch so the offsets it spans
 * remain accounted for in the index (fetch derives offsets from batch lengths).
 */
import { putSegmentObject } from '../storage/segment-objects.ts';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { decodeRecordBatch, encodeRetainedBatch, readBatchHeader, setBaseOffset, type DecodedRecord, type BatchHeader } from '../codec/record-batch.ts';
import type { Storage } from '../storage/clients.ts';
import { COMPACTION_DECODE_BUDGET } from '../config/defaults.ts';
import { DecodeBudget, isBudgetExceeded } from '../codec/decode-budget.ts';
import type { IndexEntryItem, TopicItem } from '../storage/schema.ts';
import { adjustHead } from './steps.ts';
import { readObjectRange } from '../storage/segment-cache.ts';
import { pendingDelete } from './partition-items.ts';
import { releaseDropped } from '../blobs/collect.ts';

interface LoadedBatch {
  bytes: Buffer;
  header: BatchHeader;
  records: DecodedRecord[];
}

async function loadEntry(storage: Storage, entry: IndexEntryItem, budget: DecodeBudget): Promise<LoadedBatch[]> {
  const range = await readObjectRange(storage, entry.objectKey, entry.byteStart, entry.byteLength);
  const batches: LoadedBatch[] = [];
  let base = entry.baseOffset;
  for (let position = 0; position < range.length; ) {
    const size = readBatchHeader(range, position).sizeBytes;
    const bytes = Buffer.from(range.subarray(position, position + size));
    setBaseOffset(bytes, 0, base);
    const { header, records } = await decodeRecordBatch(bytes, 0, budget);
    batches.push({ bytes, header, records });
    base += header.lastOffsetDelta + 1;
    position += size;
  }
  return batches;
}

/**
 * Loads cleanable entries in offset order until the visit's decode budget is spent. Any
 * subset is safe to clean on its own: a record is dropped only for a later record of its
 * key that was loaded too. One entry too big for the whole budget (a stored bomb) is left
 * as it is and the budget starts over once, so it cannot stop compaction behind it for
 * good (tombstones behind it are then kept); the work stays within twice the budget.
 */
async function loadWithinBudget(storage: Storage, cleanable: readonly IndexEntryItem[]): Promise<{ entries: IndexEntryItem[]; loaded: LoadedBatch[][]; skipped: boolean }> {
  const entries: IndexEntryItem[] = [];
  const loaded: LoadedBatch[][] = [];
  let budget = new DecodeBudget('Key compaction', COMPACTION_DECODE_BUDGET);
  let skipped = false;
  for (const entry of cleanable) {
    try {
      loaded.push(await loadEntry(storage, entry, budget));
      entries.push(entry);
    } catch (error) {
      if (!isBudgetExceeded(error)) throw error;
      if (entries.length > 0 || skipped) break;
      skipped = true;
      budget = new DecodeBudget('Key compaction', COMPACTION_DECODE_BUDGET);
    }
  }
  return { entries, loaded, skipped };
}

/** The entries the cleaner may touch: a prefix, never the newest, none younger than the lag. */
export function cleanableEntries(entries: readonly IndexEntryItem[], minLagMs: number, nowMs: number): IndexEntryItem[] {
  const candidates = entries.slice(0, -1);
  const firstTooYoung = candidates.findIndex((e) => e.maxTimestamp > nowMs - minLagMs);
  return firstTooYoung === -1 ? candidates : candidates.slice(0, firstTooYoung);
}

/** Which records survive: the latest per key, tombstones only until delete.retention.ms. */
export function survivors(batches: readonly LoadedBatch[][], deleteRetentionMs: number, nowMs: number): (record: DecodedRecord) => boolean {
  const latest = new Map<string, number>();
  for (const entry of batches) for (const batch of entry) for (const r of batch.records) if (r.key !== null) latest.set(r.key.toString('latin1'), r.offset);
  return (r) => r.key === null || (latest.get(r.key.toString('latin1')) === r.offset && !(r.value === null && r.timestamp < nowMs - deleteRetentionMs));
}

/**
 * Cleans `entries` (in offset order) of a compacted topic's partition. Each changed entry
 * is rewritten to a new object and swapped in by a transaction conditioned on the entry
 * still naming the old object; the old object is queued for deletion. Returns how many
 * entries were rewritten.
 */
export async function compactKeys(storage: Storage, topic: TopicItem, partition: number, entries: readonly IndexEntryItem[], nowMs: number, deleteAfterMs: number): Promise<number> {
  const cleanable = cleanableEntries(entries, topic.configs['min.compaction.lag.ms'], nowMs);
  if (cleanable.length === 0) return 0;
  const { entries: considered, loaded, skipped } = await loadWithinBudget(storage, cleanable);
  // Past a skipped entry a tombstone must stay: it still hides that entry's older values.
  const keep = survivors(loaded, skipped ? Number.POSITIVE_INFINITY : topic.configs['delete.retention.ms'], nowMs);
  let rewritten = 0;
  for (const [i, entry] of considered.entries()) {
    const batches = loaded[i] as LoadedBatch[];
    if (batches.every((b) => b.records.every(keep))) continue;
    const parts = await Promise.all(batches.map(async (b) => (b.records.every(keep) ? b.bytes : encodeRetainedBatch(b.header, b.records.filter(keep)))));
    // Stored batches carry base offset 0; fetch fills in the real one.
    for (const part of parts) setBaseOffset(part, 0, 0);
    const body = Buffer.concat(parts);
    const { objectKey, expireDays } = await putSegmentObject(storage, topic, partition, 'compacted', body, nowMs);
    const cleaned: IndexEntryItem = {
      ...entry,
      objectKey,
      byteStart: 0,
      byteLength: body.length,
      recordCount: batches.reduce((n, b) => n + b.records.filter(keep).length, 0),
      createdAtMs: nowMs,
      expireDays,
    };
    try {
      await storage.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: storage.env.tableName, Item: cleaned, ConditionExpression: 'objectKey = :key', ExpressionAttributeValues: { ':key': entry.objectKey } } },
            { Put: { TableName: storage.env.tableName, Item: pendingDelete(entry, deleteAfterMs) } },
            adjustHead(storage.env.tableName, entry.pk, { bytes: body.length - entry.byteLength, entriesFrom: entry.lastOffset }),
          ],
        }),
      );
      rewritten++;
      await releaseDropped(storage, topic, partition, batches.flatMap((b) => b.records.filter((r) => !keep(r))), deleteAfterMs);
    } catch (error) {
      if ((error as { name?: string }).name !== 'TransactionCanceledException') throw error;
      // Retention or a merge got there first; the new object is an orphan the sweep collects.
    }
  }
  return rewritten;
}
