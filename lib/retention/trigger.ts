/**
 * Produce asks for compaction, asynchronously (Lambda invocation type `Event`: the call
 * returns once queued), only when its append made work: a merge run ready, the partition
 * over retention.bytes, or a compacted topic's new bytes worth cleaning. Time-based work
 * (the oldest segment due under retention.ms, a release after its grace) is booked by each
 * visit in the due-time index, which the schedule reads; so is every partition, within an
 * hour of its first append. A failed trigger is logged, never fatal.
 *
 * The check is free on the produce path: it reads only the sizes the sequencer returns
 * with each commit (`before`/`after`, from its head hint). Those are exact after any read
 * of the head and too high by whatever compaction removed since, so the rules fire on
 * amounts appended (a multiple crossed), which stay right under that staleness: a visit
 * never comes more often than the appends make work for it.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { COMPACTION } from '../config/defaults.ts';
import type { TopicConfigs } from '../log/topic-config.ts';
import type { CompactionRequest } from './invocation.ts';
import { MAX_SEGMENTS_PER_MERGE } from './plan.ts';

let client: LambdaClient | undefined;

/** A partition's size as the sequencer reports it around one commit. */
export interface PartitionSizes {
  segments: number;
  bytes: number;
}

/** Why an append asks for a visit. */
export type CompactionWork = 'merge' | 'retention.bytes' | 'key compaction';

/** retention.bytes asks again each time the partition grows by this share of the limit past it (at least 1 MiB). */
const RETENTION_BYTES_STEPS = 16;
const MIN_RETENTION_BYTES_STEP = 1024 * 1024;

/** True when `after` passed a multiple of `step` that `before` had not reached. */
function passedMultiple(before: number, after: number, step: number): boolean {
  return Math.floor(after / step) > Math.floor(before / step);
}

/**
 * The work one append made, or undefined (pure; no request):
 * - merge: the append was a small segment and the partition gained a full merge
 *   transaction's worth of segments (49) since the last multiple;
 * - retention.bytes: a deleting topic's partition is over the limit by at least one step
 *   (a sixteenth of the limit, at least 1 MiB; Kafka itself removes whole segments of up to
 *   1 GiB) and grew past another step;
 * - key compaction: a compacted topic gained another `triggerBytes` of records to clean.
 */
export function compactionWork(configs: TopicConfigs, appended: { before: PartitionSizes; after: PartitionSizes }): CompactionWork | undefined {
  const { before, after } = appended;
  const segmentBytes = after.bytes - before.bytes;
  if (segmentBytes < COMPACTION.smallSegmentBytes && passedMultiple(before.segments, after.segments, MAX_SEGMENTS_PER_MERGE)) return 'merge';
  const policy = configs['cleanup.policy'];
  const limit = configs['retention.bytes'];
  if ((policy === 'delete' || policy === 'compact,delete') && limit >= 0) {
    const step = Math.max(MIN_RETENTION_BYTES_STEP, Math.ceil(limit / RETENTION_BYTES_STEPS));
    const over = after.bytes - limit;
    if (over >= step && passedMultiple(before.bytes - limit, over, step)) return 'retention.bytes';
  }
  if (policy !== 'delete' && passedMultiple(before.bytes, after.bytes, COMPACTION.triggerBytes)) return 'key compaction';
  return undefined;
}

/** Queues a compaction of one partition on the function named by SLUICE_COMPACT_FUNCTION, if set. */
export async function requestCompaction(request: CompactionRequest, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const functionName = env.SLUICE_COMPACT_FUNCTION;
  if (functionName === undefined || functionName === '') return;
  client ??= new LambdaClient({});
  try {
    await client.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(request)) }));
  } catch (error) {
    console.error(JSON.stringify({ level: 'WARN', message: 'compaction trigger failed; the schedule will pick the partition up', request, error: String(error) }));
  }
}
