/**
 * In-process combining, the first layer of group commit: per partition, one transaction at
 * a time per process, carrying every draft queued meanwhile (group-commit.ts commits them,
 * with drafts other instances left waiting in the table).
 */
import type { Storage } from '../storage/clients.ts';
import { partitionPk } from '../storage/schema.ts';
import type { CommittedSegment, LiveTopic, SegmentDraft } from './commit-writes.ts';
import { commitBatch, type GroupCommitHooks, type Own } from './group-commit.ts';

/**
 * Drafts queued in this process per partition, and whether a commit for them is running.
 * In-process combining: one transaction at a time per partition per process carries every
 * draft queued meanwhile. Bounded by the requests this instance serves at once (one on
 * Lambda, where this layer is idle and the table's waiting drafts do the combining).
 */
const queues = new Map<string, { running: boolean; queue: Own[] }>();

/** Drafts of this process one transaction carries at most (its queue's head first). */
const MAX_OWN_DRAFTS = 30;

/**
 * Commits one partition's draft together with others waiting for the same partition, in
 * this process (queued) or in the table (left by writers of other instances), and returns
 * where it landed. Refusals, and THROTTLING_QUOTA_EXCEEDED after
 * SEQUENCER.groupCommitDeadlineMs, are thrown only once the draft can no longer be
 * committed by anyone.
 */
export function commitCombining(storage: Storage, topic: LiveTopic, draft: SegmentDraft, hooks: GroupCommitHooks = {}): Promise<CommittedSegment> {
  const pk = partitionPk(topic.topicId, draft.partition);
  return new Promise((resolve, reject) => {
    let state = queues.get(pk);
    if (state === undefined) {
      state = { running: false, queue: [] };
      queues.set(pk, state);
    }
    state.queue.push({ draft, hooks, resolve, reject });
    if (!state.running) void drain(storage, topic, pk, state);
  });
}

async function drain(storage: Storage, topic: LiveTopic, pk: string, state: { running: boolean; queue: Own[] }): Promise<void> {
  state.running = true;
  try {
    while (state.queue.length > 0) {
      const batch = takeBatch(state.queue, []);
      try {
        // A retry after a lost race takes in what queued meanwhile: one transaction fewer.
        // Those join `batch`, so a failure below reaches them too.
        await commitBatch(storage, topic, pk, batch, (pending) => {
          const more = takeBatch(state.queue, pending);
          batch.push(...more);
          return more;
        });
      } catch (error) {
        for (const own of batch) own.reject(error);
      }
    }
  } finally {
    state.running = false;
    queues.delete(pk);
  }
}

/**
 * The queue's head drafts that fit one transaction beside `pending` (drafts it already
 * carries): at most one per idempotent producer (its state item may appear once; later
 * ones keep their place, so a producer's sequences stay in order), at most one producer met
 * at sequence 0 (the issued check names one), and MAX_OWN_DRAFTS in all.
 */
function takeBatch(queue: Own[], pending: readonly Own[]): Own[] {
  const batch: Own[] = [];
  const producers = new Set<bigint>(pending.flatMap((own) => (own.draft.producer === undefined ? [] : [own.draft.producer.producerId])));
  let starting = pending.some((own) => own.draft.producer?.firstSequence === 0);
  for (let i = 0; i < queue.length && pending.length + batch.length < MAX_OWN_DRAFTS; ) {
    const producer = (queue[i] as Own).draft.producer;
    const blocked = producer !== undefined && (producers.has(producer.producerId) || (producer.firstSequence === 0 && starting));
    if (producer !== undefined) producers.add(producer.producerId);
    if (blocked) {
      i++;
      continue;
    }
    if (producer?.firstSequence === 0) starting = true;
    batch.push(...queue.splice(i, 1));
  }
  return batch;
}
