/**
 * Segment combining, the layer of group commit before the object write: concurrent
 * single-partition appends of non-idempotent batches that one process serves for the same
 * partition share one S3 object and one index entry, so N of them cost one PUT, one entry
 * and one later merge instead of N.
 *
 *   request A ─► queue ─► PUT obj(A) ─────────► commit ─► ack A
 *   request B ─► queue ┐ (a PUT is in flight: wait)
 *   request C ─► queue ┴─► PUT obj(B|C) ───────► commit (one draft: B's batches, then C's) ─► ack B, C
 *
 * One PUT at a time per partition per process; requests that arrive meanwhile go together
 * in the next object, their batches laid end to end in arrival order. Under load (enough
 * requests for the partition committing here) the next object waits SEQUENCER.combineLingerMs
 * to fill before its PUT. The combined draft
 * then goes through the commit queue and group commit like any other (commit-queue.ts), so
 * the cross-instance protocol is unchanged. Invariants, each as for a lone draft:
 *  - dense offsets, each record once: the combined draft is one segment, given offsets by
 *    one compare-and-set; each request's batches take the offsets of their byte run in it;
 *  - acknowledged means committed: every request waits for the commit of the draft holding
 *    its batches; if that commit is refused or fails, every request in it hears the error
 *    and none of its batches is in the log (one index entry, all or nothing);
 *  - no index entry without its object: the object is written before the draft exists.
 * Idempotent batches are never combined: a segment carries at most one producer's state.
 * On Lambda an instance serves one request at a time, so this layer only ever holds one
 * request there; it pays off where an instance serves many at once (the local stack, a
 * long-running server).
 */
import type { BatchHeader } from '../codec/record-batch.ts';
import type { Storage } from '../storage/clients.ts';
import { partitionPk, type TopicItem } from '../storage/schema.ts';
import { deleteUnreferencedObjects, putSegmentObject } from '../storage/segment-objects.ts';
import { SluiceError } from '../errors.ts';
import { sleep } from '../retry.ts';
import { SEQUENCER } from '../config/defaults.ts';
import { commitCombining } from './commit-queue.ts';
import type { CommittedSegment, SegmentDraft } from './commit-writes.ts';
import type { AppendHooks } from './append.ts';

/** One request's batches for one partition, stamped and verified, waiting for an object. */
export interface CombinablePart {
  partition: number;
  batches: ReadonlyArray<{ bytes: Buffer; header: BatchHeader }>;
  logAppendTimeMs?: number;
}

interface Queued {
  part: CombinablePart;
  body: Buffer;
  hooks: AppendHooks;
  resolve(segment: CommittedSegment): void;
  reject(error: unknown): void;
}

interface PartitionQueue {
  writing: boolean;
  queue: Queued[];
}

const queues = new Map<string, PartitionQueue>();
/** Requests per partition this process holds, queued or committing. */
const active = new Map<string, number>();

/**
 * Bytes one combined object holds at most: Kafka's default max.message.bytes, so a combined
 * segment is no larger than one batch a producer may send alone.
 */
const MAX_COMBINED_BYTES = 1024 * 1024;
/** Requests one combined object holds at most. */
const MAX_COMBINED_PARTS = 500;

/**
 * Appends one request's batches for one partition, sharing the object (and index entry)
 * with other requests this process holds for the same partition meanwhile. Resolves with
 * where its first batch landed; `before`/`after` carry the partition's growth only for the
 * first request of a combined segment (the others' is none), so a trigger fires once per
 * segment. Throws what the commit threw, after deleting the object of a refused draft.
 */
export function appendCombining(storage: Storage, topic: TopicItem, part: CombinablePart, hooks: AppendHooks = {}): Promise<CommittedSegment> {
  const pk = partitionPk(topic.topicId, part.partition);
  const body = part.batches.length === 1 ? (part.batches[0] as { bytes: Buffer }).bytes : Buffer.concat(part.batches.map((b) => b.bytes));
  active.set(pk, (active.get(pk) ?? 0) + 1);
  const finished = () => {
    const left = (active.get(pk) ?? 1) - 1;
    if (left === 0) active.delete(pk);
    else active.set(pk, left);
  };
  return new Promise<CommittedSegment>((resolve, reject) => {
    let state = queues.get(pk);
    if (state === undefined) {
      state = { writing: false, queue: [] };
      queues.set(pk, state);
    }
    state.queue.push({ part, body, hooks, resolve, reject });
    if (!state.writing) void drain(storage, topic, pk, state);
  }).finally(finished);
}

async function drain(storage: Storage, topic: TopicItem, pk: string, state: PartitionQueue): Promise<void> {
  state.writing = true;
  try {
    while (state.queue.length > 0) {
      // Only while enough other requests for the partition are committing here does the next
      // object wait a moment to fill (PostgreSQL's commit_delay with commit_siblings): under
      // load, fewer and fuller objects and transactions; a lone producer never waits.
      if ((active.get(pk) ?? 0) - state.queue.length >= SEQUENCER.combineLingerSiblings) await sleep(SEQUENCER.combineLingerMs);
      const taken = take(state.queue);
      const hooks = (taken[0] as Queued).hooks;
      let draft: SegmentDraft;
      try {
        draft = await writeCombined(storage, topic, taken);
        await hooks.afterObjectsWritten?.();
      } catch (error) {
        for (const q of taken) q.reject(error);
        continue;
      }
      // Not awaited: the next object is written while this one commits, and the commit
      // queue carries both in one transaction if they meet there.
      void commitCombining(storage, topic, draft, hooks).then(
        (segment) => settle(taken, segment),
        async (error: unknown) => {
          // A SluiceError is a definite refusal: nothing committed, and no entry will name the object.
          if (error instanceof SluiceError) await deleteUnreferencedObjects(storage, [draft.objectKey]);
          for (const q of taken) q.reject(error);
        },
      );
    }
  } finally {
    state.writing = false;
    queues.delete(pk);
  }
}

/** The queue's head requests that fit one object (at least one, whatever its size). */
function take(queue: Queued[]): Queued[] {
  let bytes = 0;
  let count = 0;
  while (count < queue.length && count < MAX_COMBINED_PARTS) {
    const next = (queue[count] as Queued).body.length;
    if (count > 0 && bytes + next > MAX_COMBINED_BYTES) break;
    bytes += next;
    count++;
  }
  return queue.splice(0, count);
}

async function writeCombined(storage: Storage, topic: TopicItem, taken: readonly Queued[]): Promise<SegmentDraft> {
  const body = taken.length === 1 ? (taken[0] as Queued).body : Buffer.concat(taken.map((q) => q.body));
  const partition = (taken[0] as Queued).part.partition;
  const { objectKey, expireDays } = await putSegmentObject(storage, topic, partition, 'produced', body);
  const batches = taken.flatMap((q) => q.part.batches);
  const stamps = taken.flatMap((q) => (q.part.logAppendTimeMs === undefined ? [] : [q.part.logAppendTimeMs]));
  return {
    partition,
    objectKey,
    byteStart: 0,
    byteLength: body.length,
    offsetCount: batches.reduce((n, b) => n + b.header.lastOffsetDelta + 1, 0),
    recordCount: batches.reduce((n, b) => n + b.header.recordCount, 0),
    batchCount: batches.length,
    maxTimestamp: Math.max(...stamps, ...batches.map((b) => b.header.maxTimestamp)),
    expireDays,
    ...(stamps.length === 0 ? {} : { logAppendTimeMs: Math.max(...stamps) }),
  };
}

/** Each request's base offset: the segment's, plus the offsets of the requests before it. */
function settle(taken: readonly Queued[], segment: CommittedSegment): void {
  let base = segment.baseOffset;
  taken.forEach((q, i) => {
    const { logAppendTimeMs } = q.part;
    q.resolve({ baseOffset: base, before: i === 0 ? segment.before : segment.after, after: segment.after, duplicate: false, ...(logAppendTimeMs === undefined ? {} : { logAppendTimeMs }) });
    base += q.part.batches.reduce((n, b) => n + b.header.lastOffsetDelta + 1, 0);
  });
}

