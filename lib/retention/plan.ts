/**
 * What retention and merging should do to one partition, decided from the index alone:
 * pure functions, so every rule is tested exhaustively without storage.
 */
import type { IndexEntryItem } from '../storage/schema.ts';
import type { TopicConfigs } from '../log/topic-config.ts';

export interface RetentionPlan {
  /** The oldest entries to remove, in offset order. */
  remove: IndexEntryItem[];
  /** The log start offset once they are gone. Never decreases. */
  logStartOffset: number;
}

/**
 * Kafka's segment deletion (UnifiedLog.deleteOldSegments), over index entries in offset
 * order:
 * - entries wholly below the current log start offset (after DeleteRecords) go;
 * - retention.ms: an entry whose newest record is older than now - retention.ms goes;
 * - retention.bytes: the oldest go while the partition stays at or above the limit without them;
 * each rule removes a prefix only, and the newest entry (the head of the log) always stays.
 */
export function planRetention(entries: readonly IndexEntryItem[], logStartOffset: number, configs: TopicConfigs, nowMs: number): RetentionPlan {
  const retentionMs = configs['retention.ms'];
  const retentionBytes = configs['retention.bytes'];
  const policy = configs['cleanup.policy'];
  const deletes = policy === 'delete' || policy === 'compact,delete';
  let size = entries.reduce((n, e) => n + e.byteLength, 0);
  let count = 0;
  for (const entry of entries.slice(0, -1)) {
    const belowStart = entry.lastOffset < logStartOffset;
    const expired = deletes && retentionMs >= 0 && entry.maxTimestamp < nowMs - retentionMs;
    const oversize = deletes && retentionBytes >= 0 && size - entry.byteLength >= retentionBytes;
    if (!belowStart && !expired && !oversize) break;
    size -= entry.byteLength;
    count++;
  }
  const remove = entries.slice(0, count);
  const firstKept = entries[count];
  return { remove, logStartOffset: Math.max(logStartOffset, firstKept?.baseOffset ?? logStartOffset) };
}

export interface MergeOptions {
  smallSegmentBytes: number;
  mergeTargetBytes: number;
  mergeMinSegments: number;
  /** A transaction holds 100 items; a merge of n entries writes 2n + 1. */
  maxSegmentsPerMerge: number;
}

/**
 * Runs of consecutive small entries worth merging: each run's entries are under
 * smallSegmentBytes, together at most mergeTargetBytes, and at least mergeMinSegments long.
 * Entries are dense in offsets, so concatenating a run's batches keeps every offset.
 */
export function planMerges(entries: readonly IndexEntryItem[], options: MergeOptions): IndexEntryItem[][] {
  const runs: IndexEntryItem[][] = [];
  let run: IndexEntryItem[] = [];
  let runBytes = 0;
  const close = () => {
    if (run.length >= options.mergeMinSegments) runs.push(run);
    run = [];
    runBytes = 0;
  };
  for (const entry of entries) {
    if (entry.byteLength >= options.smallSegmentBytes) {
      close();
      continue;
    }
    if (runBytes + entry.byteLength > options.mergeTargetBytes || run.length >= options.maxSegmentsPerMerge) close();
    run.push(entry);
    runBytes += entry.byteLength;
  }
  close();
  return runs;
}
