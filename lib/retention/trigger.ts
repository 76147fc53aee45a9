/**
 * Produce asks for compaction, asynchronously (Lambda invocation type `Event`: the call
 * returns once queued), when a partition crosses a segment-count or byte threshold. The
 * schedule covers whatever a trigger misses, so a failed trigger is logged, never fatal.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { COMPACTION } from '../config/defaults.ts';
import type { CompactionRequest } from './invocation.ts';

let client: LambdaClient | undefined;

/** True when an append took the partition from `before` to `after` across a threshold. */
export function crossesThreshold(before: { segments: number; bytes: number }, after: { segments: number; bytes: number }): boolean {
  const segmentsCrossed = after.segments >= COMPACTION.triggerSegments && Math.floor(after.segments / (COMPACTION.triggerSegments / 4)) !== Math.floor(before.segments / (COMPACTION.triggerSegments / 4));
  const bytesCrossed = Math.floor(after.bytes / COMPACTION.triggerBytes) !== Math.floor(before.bytes / COMPACTION.triggerBytes);
  return segmentsCrossed || bytesCrossed;
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
