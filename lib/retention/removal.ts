/**
 * Retention's removal of the oldest segments, in three steps, none of them a transaction:
 *
 *   1. cut      one conditional UpdateItem of the head: logStartOffset and removedBelowOffset
 *               rise past the entries retention drops, and bytes and segments lose them
 *   2. grace    the partition's COMPACTION state records a release mark, deleteGraceMs after
 *               a moment following the cut; nothing is deleted before it
 *   3. release  removeSegments: the marked entries' objects (DeleteObjects, 1,000 a request),
 *               then the entries themselves (BatchWriteItem, 25 a request, 1 WRU each)
 *
 *   visit n:    read head ─► plan ─► cut (1 WRU) ─► mark (in the state it saves anyway)
 *   visit n+1:  mark due? ─► DeleteObjects ─► BatchWriteItem delete ─► drop the mark
 *
 * Why the invariants hold:
 * - An acknowledged record at or above the log start is never removed. The cut takes only
 *   entries whose last offset is below the new log start (planRetention keeps the newest
 *   entry always), and only if the head still says what was planned from: removedBelowOffset
 *   unchanged and logStartOffset not past the new value. A release deletes only entries below
 *   a mark, and a mark is never above the head's removedBelowOffset, which is never above
 *   logStartOffset. All three only rise.
 * - Nothing resolves an entry below the log start. Fetch and ListOffsets answer
 *   OFFSET_OUT_OF_RANGE below it (they read it from the head), and merging, key compaction
 *   and re-tagging read the index from the log start; merges and key compaction also
 *   condition their transactions on their entries being at or above removedBelowOffset
 *   (adjustHead). So a crash between a release's two deletes, which leaves entries whose
 *   objects are gone, leaves them where no reader looks, and the next release finishes them
 *   (both deletes are idempotent). The orphan sweep still counts cut entries as references.
 * - A fetch that read the head before the cut finishes: its objects stay for the grace.
 *   The mark's time is taken after the cut commits; after a crash in between, the next
 *   visit finds a cut with no mark and marks it from its own, later, time.
 * - Sizes stay exact: each entry's bytes leave the head once, in the conditional cut; a cut
 *   that loses a race to DeleteRecords or another run is planned again from a fresh head.
 *   Appends meanwhile commute with it (ADD; the cut never touches nextOffset).
 * - Offsets stay dense and assigned once: removal never touches nextOffset or live entries.
 */
import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { BatchWriteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { backoffDelayMs, sleep } from '../retry.ts';
import type { Storage } from '../storage/clients.ts';
import { isConditionFailure } from '../storage/conditions.ts';
import { HEAD_SK, type IndexEntryItem } from '../storage/schema.ts';
import type { TopicConfigs } from '../log/topic-config.ts';
import { indexPages, readIndexPage } from './partition-items.ts';
import { planRetention } from './plan.ts';

/** What retention reads of a partition's head. */
export interface RetentionHead {
  nextOffset: number;
  logStartOffset: number;
  /** Entries below this are out of the log and of bytes/segments (HeadItem.removedBelowOffset). */
  removedBelowOffset: number;
  bytes: number;
  segments: number;
}

/** Entries below `belowOffset` (all cut) may be released once `afterMs` passes. */
export interface ReleaseMark {
  belowOffset: number;
  afterMs: number;
}

/** Marks kept per partition; older ones are folded into newer ones (a later release, never an earlier one). */
const MAX_MARKS = 8;
/** Entries one cut takes at most; a longer removal cuts again. */
const MAX_ENTRIES_PER_CUT = 5_000;
/** Retention's pages grow to this while every entry read goes (the Query's 1 MB cap applies too). */
const MAX_PAGE_SIZE = 1_000;
/** BatchWriteItem takes 25 requests (an AWS limit); this many are in flight at once. */
const BATCH_WRITE_ITEMS = 25;
const BATCH_WRITE_CONCURRENCY = 8;
/** DeleteObjects takes at most 1,000 keys (an AWS limit). */
const DELETE_OBJECTS_KEYS = 1_000;

/** The partition's head as retention needs it (a consistent read); zeros before the first append. */
export async function readRetentionHead(storage: Storage, pk: string): Promise<RetentionHead> {
  const result = await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk, sk: HEAD_SK }, ConsistentRead: true }));
  const n = (name: string) => (typeof result.Item?.[name] === 'number' ? (result.Item[name] as number) : 0);
  return { nextOffset: n('nextOffset'), logStartOffset: n('logStartOffset'), removedBelowOffset: n('removedBelowOffset'), bytes: n('bytes'), segments: n('segments') };
}

/** Raised when the head moved between retention's read and its cut (DeleteRecords, another run). */
class CutConflict extends Error {}

/**
 * Step 1: takes the oldest entries out of the log with one conditional UpdateItem of the
 * head, conditioned on the head still being as `from` says. `removed` are the entries from
 * `from.removedBelowOffset` on, in offset order; every one ends below `logStartOffset`.
 */
async function cutSegments(storage: Storage, pk: string, from: RetentionHead, removed: { count: number; bytes: number; belowOffset: number }, logStartOffset: number): Promise<void> {
  const fresh = from.removedBelowOffset === 0 ? '(attribute_not_exists(removedBelowOffset) OR removedBelowOffset = :from)' : 'removedBelowOffset = :from';
  try {
    await storage.ddb.send(
      new UpdateCommand({
        TableName: storage.env.tableName,
        Key: { pk, sk: HEAD_SK },
        UpdateExpression: 'SET logStartOffset = :start, removedBelowOffset = :below ADD #bytes :bytes, #segments :segments',
        ConditionExpression: `attribute_exists(pk) AND logStartOffset <= :start AND ${fresh}`,
        ExpressionAttributeNames: { '#bytes': 'bytes', '#segments': 'segments' },
        ExpressionAttributeValues: { ':start': logStartOffset, ':below': removed.belowOffset, ':from': from.removedBelowOffset, ':bytes': -removed.bytes, ':segments': -removed.count },
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw new CutConflict('the head moved since retention read it');
    throw error;
  }
}

export interface RetentionOutcome {
  /** Entries cut by this call. */
  removed: number;
  /** Their stored bytes. */
  removedBytes: number;
  logStartOffset: number;
  /** The head after the cuts. */
  head: RetentionHead;
  /** When retention.ms next removes an entry (the oldest kept one expires), or never. */
  nextRemovalAtMs: number;
}

export interface RetentionOptions {
  clock: () => number;
  /** Entries of the first page read; pages double while every entry of one goes. */
  pageSize: number;
  outOfTime: () => boolean;
  /** Crash-injection seam: after each cut commits. */
  afterCut?: () => Promise<void>;
}

/**
 * Kafka's segment deletion over the oldest entries still in the log (from the head's
 * removedBelowOffset), read a page at a time up to the first entry kept: cuts them (step 1)
 * in as few conditional writes as the reads allow. A lost race re-reads the head and plans
 * again; the part already cut stays cut.
 */
export async function applyRetention(storage: Storage, pk: string, configs: TopicConfigs, head: RetentionHead, options: RetentionOptions): Promise<RetentionOutcome> {
  let removed = 0;
  let removedBytes = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const outcome = await retentionFrom(storage, pk, configs, head, options, (n, bytes) => {
        removed += n;
        removedBytes += bytes;
      });
      return { ...outcome, removed, removedBytes };
    } catch (error) {
      if (!(error instanceof CutConflict) || attempt >= 3) throw error;
      await sleep(backoffDelayMs(attempt, { baseMs: 20, capMs: 500 }));
      head = await readRetentionHead(storage, pk);
    }
  }
}

async function retentionFrom(storage: Storage, pk: string, configs: TopicConfigs, head: RetentionHead, options: RetentionOptions, onCut: (n: number, bytes: number) => void): Promise<Omit<RetentionOutcome, 'removed' | 'removedBytes'>> {
  const newestLastOffset = head.nextOffset - 1;
  let logStartOffset = head.logStartOffset;
  let bytes = head.bytes;
  let cutFrom = head;
  let pending = { count: 0, bytes: 0, belowOffset: head.removedBelowOffset };
  let nextRemovalAtMs = Number.POSITIVE_INFINITY;
  let pageSize = options.pageSize;
  const commit = async () => {
    if (pending.count === 0 && logStartOffset === cutFrom.logStartOffset) return;
    await cutSegments(storage, pk, cutFrom, pending, logStartOffset);
    onCut(pending.count, pending.bytes);
    cutFrom = { ...cutFrom, logStartOffset, removedBelowOffset: pending.belowOffset, bytes: cutFrom.bytes - pending.bytes, segments: cutFrom.segments - pending.count };
    pending = { count: 0, bytes: 0, belowOffset: pending.belowOffset };
    await options.afterCut?.();
  };
  for (let fromOffset = head.removedBelowOffset; ; ) {
    const { entries: page, more } = await readIndexPage(storage, pk, fromOffset, pageSize);
    const plan = planRetention(page, logStartOffset, configs, options.clock(), { totalBytes: bytes, newestLastOffset });
    const last = plan.remove.at(-1);
    if (last !== undefined) pending = { count: pending.count + plan.remove.length, bytes: pending.bytes + plan.remove.reduce((n, e) => n + e.byteLength, 0), belowOffset: last.lastOffset + 1 };
    logStartOffset = plan.logStartOffset;
    bytes = plan.remainingBytes;
    const firstKept = page[plan.remove.length];
    if (plan.complete && firstKept !== undefined && firstKept.lastOffset < newestLastOffset) nextRemovalAtMs = retentionDue(configs, firstKept);
    const done = plan.complete || !more;
    if (done || options.outOfTime() || pending.count >= MAX_ENTRIES_PER_CUT) await commit();
    if (done || options.outOfTime()) break;
    fromOffset = (page.at(-1) as IndexEntryItem).lastOffset + 1;
    pageSize = Math.min(MAX_PAGE_SIZE, pageSize * 2);
  }
  return { logStartOffset: cutFrom.logStartOffset, head: cutFrom, nextRemovalAtMs };
}

/** When retention.ms removes `entry` (the oldest kept one), or never. */
function retentionDue(configs: TopicConfigs, entry: IndexEntryItem): number {
  const retentionMs = configs['retention.ms'];
  const deletes = configs['cleanup.policy'] === 'delete' || configs['cleanup.policy'] === 'compact,delete';
  return deletes && retentionMs >= 0 ? entry.maxTimestamp + retentionMs + 1 : Number.POSITIVE_INFINITY;
}

/**
 * Step 2: the marks once the head says entries up to `removedBelowOffset` are cut. A cut
 * without a mark (this visit's, or one a crash left unmarked) gets one at `afterMs`, which
 * the caller takes after the cut committed. Marks stay ordered; past MAX_MARKS the two
 * newest are folded into one that releases both at the later time.
 */
export function markCut(marks: readonly ReleaseMark[], releasedBelowOffset: number, removedBelowOffset: number, afterMs: number): ReleaseMark[] {
  const covered = Math.max(releasedBelowOffset, ...marks.map((m) => m.belowOffset));
  if (removedBelowOffset <= covered) return [...marks];
  const next = [...marks, { belowOffset: removedBelowOffset, afterMs }];
  while (next.length > MAX_MARKS) {
    const newest = next.pop() as ReleaseMark;
    next[next.length - 1] = { belowOffset: newest.belowOffset, afterMs: Math.max(newest.afterMs, (next.at(-1) as ReleaseMark).afterMs) };
  }
  return next;
}

export interface ReleaseOutcome {
  /** Entries (and their objects) deleted by this call. */
  released: number;
  /** Every entry below this is gone; marks up to it are done. */
  releasedBelowOffset: number;
  /** The marks still waiting (not yet due, or not reached before the deadline). */
  marks: ReleaseMark[];
}

/**
 * Step 3 for every mark whose time has come: streams the oldest entries below the highest
 * due mark (immutable, so an eventually consistent read is enough) and removes them a page
 * at a time, stopping at the deadline; the next visit resumes where this one stopped.
 */
export async function releaseDue(storage: Storage, pk: string, marks: readonly ReleaseMark[], releasedBelowOffset: number, options: { clock: () => number; outOfTime: () => boolean; hooks?: RemovalHooks }): Promise<ReleaseOutcome> {
  const nowMs = options.clock();
  const due = marks.filter((m) => m.afterMs <= nowMs);
  if (due.length === 0) return { released: 0, releasedBelowOffset, marks: [...marks] };
  const belowOffset = Math.max(...due.map((m) => m.belowOffset));
  let released = 0;
  for await (const page of indexPages(storage, pk, { pageSize: MAX_PAGE_SIZE, consistent: false })) {
    const below = page.filter((e) => e.lastOffset < belowOffset);
    if (below.length > 0) await removeSegments(storage, below, options.hooks);
    released += below.length;
    if (below.length < page.length) break;
    if (options.outOfTime()) return { released, releasedBelowOffset, marks: [...marks] };
  }
  return { released, releasedBelowOffset: Math.max(releasedBelowOffset, belowOffset), marks: marks.filter((m) => m.belowOffset > belowOffset) };
}

/** Crash-injection seams of a release, for tests. */
export interface RemovalHooks {
  /** After a release deleted its objects, before it deletes their entries. */
  afterSegmentObjectsDeleted?: () => Promise<void>;
}

/**
 * Removes segments for good: their objects, then their index entries. The one place a
 * segment leaves the index for retention; whatever must go with a segment (blobs its
 * records reference, say) is released here.
 *
 * IMPORTANT: only for entries already cut (below the head's removedBelowOffset) whose grace
 * has passed: nothing may still resolve them.
 */
export async function removeSegments(storage: Storage, entries: readonly IndexEntryItem[], hooks: RemovalHooks = {}): Promise<void> {
  for (let i = 0; i < entries.length; i += DELETE_OBJECTS_KEYS) {
    const objects = entries.slice(i, i + DELETE_OBJECTS_KEYS).map((e) => ({ Key: e.objectKey }));
    await storage.s3.send(new DeleteObjectsCommand({ Bucket: storage.env.bucketName, Delete: { Objects: objects, Quiet: true } }));
  }
  await hooks.afterSegmentObjectsDeleted?.();
  const chunks: IndexEntryItem[][] = [];
  for (let i = 0; i < entries.length; i += BATCH_WRITE_ITEMS) chunks.push(entries.slice(i, i + BATCH_WRITE_ITEMS));
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(BATCH_WRITE_CONCURRENCY, chunks.length) }, async () => {
      while (next < chunks.length) await deleteEntries(storage, chunks[next++] as IndexEntryItem[]);
    }),
  );
}

/** One BatchWriteItem of up to 25 deletes, retrying what DynamoDB leaves unprocessed, with backoff. */
async function deleteEntries(storage: Storage, entries: readonly IndexEntryItem[]): Promise<void> {
  const table = storage.env.tableName;
  let requests: Record<string, Array<{ DeleteRequest: { Key: Record<string, unknown> } }>> | undefined = {
    [table]: entries.map((e) => ({ DeleteRequest: { Key: { pk: e.pk, sk: e.sk } } })),
  };
  for (let attempt = 0; requests !== undefined && (requests[table]?.length ?? 0) > 0; attempt++) {
    if (attempt > 0) await sleep(backoffDelayMs(attempt, { baseMs: 50, capMs: 2_000 }));
    const result = await storage.ddb.send(new BatchWriteCommand({ RequestItems: requests }));
    requests = result.UnprocessedItems as typeof requests;
  }
}
