import { sharedStorage } from '../../lib/storage/clients.ts';
import { compactAll, compactTopicPartition, type PartitionReport } from '../../lib/retention/compact.ts';
import { partitionRequested } from '../../lib/retention/invocation.ts';
import { log } from '../../lib/observability/logger.ts';
import { publishMetrics } from '../../lib/observability/metrics.ts';
import { publishConsumerLag } from '../../lib/observability/consumer-lag.ts';
import { oldestDueAtMs } from '../../lib/retention/schedule.ts';

/** Time kept back from the Lambda timeout for the last partition in progress. */
const SAFETY_MARGIN_MS = 2 * 60 * 1000;

/** Retention, merging and garbage collection: one partition when asked, everything on the schedule. */
export async function handler(event: unknown, context?: { getRemainingTimeInMillis?: () => number }): Promise<{ partitions: PartitionReport[] }> {
  // An API request's keys must not tag this run's lines (one process serves both locally).
  log().resetKeys();
  const storage = sharedStorage();
  const request = partitionRequested(event);
  const remainingMs = context?.getRemainingTimeInMillis?.();
  const budget = remainingMs === undefined ? {} : { budgetMs: Math.max(0, remainingMs - SAFETY_MARGIN_MS) };
  const partitions = request === undefined ? await compactAll(storage, budget) : [await compactTopicPartition(storage, request.topic, request.partition)];
  const worked = partitions.filter((p) => p.ran && (p.removedSegments || p.releasedSegments || p.mergedRuns || p.deletedObjects || p.deletedOrphans));
  log().info('compaction finished', { partitions: worked });
  publishMetrics(
    worked.flatMap((p) => [
      { name: 'SegmentsRemoved' as const, value: p.removedSegments, topic: p.topic },
      { name: 'OrphansDeleted' as const, value: p.deletedOrphans, topic: p.topic },
      { name: 'SegmentsMerged' as const, value: p.mergedSegments + p.compactedSegments, topic: p.topic },
      { name: 'BytesReclaimed' as const, value: p.removedBytes, topic: p.topic },
    ]),
  );
  if (request === undefined) {
    // Operators' figures, not compaction's work: a failed reading must not fail the pass.
    await publishPassFigures(storage).catch((error: unknown) => log().warn('pass metrics not published', { error }));
  }
  return { partitions };
}

/**
 * Once per scheduled pass: OldestUncompactedSeconds (how long the longest-waiting partition
 * has been due, 0 when none is; the CompactionBehind alarm reads a missing datum as a stopped
 * compaction) and ConsumerLagRecords.
 */
async function publishPassFigures(storage: ReturnType<typeof sharedStorage>): Promise<void> {
  const nowMs = Date.now();
  const oldest = await oldestDueAtMs(storage, nowMs);
  publishMetrics([{ name: 'OldestUncompactedSeconds', value: oldest === undefined ? 0 : Math.max(0, Math.round((nowMs - oldest) / 1000)) }]);
  await publishConsumerLag(storage);
}
