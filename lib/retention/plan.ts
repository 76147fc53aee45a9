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
  /** Bytes of the partition once they are gone. */
  remainingBytes: number;
  /** True when an entry that stays was found: the entries after it need not be read. */
  complete: boolean;
}

export interface RetentionView {
  /** Bytes of the whole partition (the head's count), when `entries` is only its oldest page. */
  totalBytes?: number;
  /** Last offset of the partition's newest entry, which always stays; default: the last given. */
  newestLastOffset?: number;
}

/**
 * Kafka's segment deletion (UnifiedLog.deleteOldSegments), over the oldest index entries
 * in offset order (all of them, or one page with `view` describing the rest):
 * - entries wholly below the current log start offset (after DeleteRecords) go;
 * - retention.ms: an entry whose newest record is older than now - retention.ms goes;
 * - retention.bytes: the oldest go while the partition stays at or above the limit without them;
 * each rule removes a prefix only, and the newest entry (the head of the log) always stays.
 */
export function planRetention(entries: readonly IndexEntryItem[], logStartOffset: number, configs: TopicConfigs, nowMs: number, view: RetentionView = {}): RetentionPlan {
  const retentionMs = configs['retention.ms'];
  const retentionBytes = configs['retention.bytes'];
  const policy = configs['cleanup.policy'];
  const deletes = policy === 'delete' || policy === 'compact,delete';
  const newest = view.newestLastOffset ?? entries.at(-1)?.lastOffset ?? -1;
  let size = view.totalBytes ?? entries.reduce((n, e) => n + e.byteLength, 0);
  let count = 0;
  let complete = false;
  for (const entry of entries) {
    const belowStart = entry.lastOffset < logStartOffset;
    const expired = deletes && retentionMs >= 0 && entry.maxTimestamp < nowMs - retentionMs;
    const oversize = deletes && retentionBytes >= 0 && size - entry.byteLength >= retentionBytes;
    if (entry.lastOffset >= newest || (!belowStart && !expired && !oversize)) {
      complete = true;
      break;
    }
    size -= entry.byteLength;
    count++;
  }
  const remove = entries.slice(0, count);
  const firstKept = entries[count];
  const next = firstKept?.baseOffset ?? (remove.length > 0 ? (remove.at(-1) as IndexEntryItem).lastOffset + 1 : logStartOffset);
  return { remove, logStartOffset: Math.max(logStartOffset, next), remainingBytes: size, complete };
}

/** Merges run in one transaction of at most 100 items: 2n + 1 for n entries. */
export const MAX_SEGMENTS_PER_MERGE = 49;

export interface MergeOptions {
  smallSegmentBytes: number;
  mergeTargetBytes: number;
  mergeMinSegments: number;
  /** A transaction holds 100 items; a merge of n entries writes 2n + 1. */
  maxSegmentsPerMerge: number;
}

export interface MergePlan {
  runs: IndexEntryItem[][];
  /**
   * Where the next plan starts: the first entry of the trailing run, which later entries may
   * still join (or just past the last entry when none is open). Everything before it is
   * settled, so merging reads only the unmerged tail of the log.
   */
  resumeOffset: number;
}

/**
 * Runs of consecutive small entries worth merging: each run's entries are under
 * smallSegmentBytes, together at most mergeTargetBytes, and at least mergeMinSegments long.
 * Entries are dense in offsets, so concatenating a run's batches keeps every offset.
 */
export function planMerges(entries: readonly IndexEntryItem[], options: MergeOptions): IndexEntryItem[][] {
  return planTailMerges(entries, options).runs;
}

/** planMerges, plus the offset the next plan of the same log may start from. */
export function planTailMerges(entries: readonly IndexEntryItem[], options: MergeOptions): MergePlan {
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
  // A merged trailing run may still be small: later entries may join the merged entry.
  const resumeOffset = run[0]?.baseOffset ?? (entries.length > 0 ? (entries.at(-1) as IndexEntryItem).lastOffset + 1 : 0);
  close();
  return { runs, resumeOffset };
}
