import { sharedStorage } from '../../lib/storage/clients.ts';
import { compactAll, compactTopicPartition, type PartitionReport } from '../../lib/retention/compact.ts';
import { partitionRequested } from '../../lib/retention/invocation.ts';
import { log } from '../../lib/observability/logger.ts';
import { publishMetrics } from '../../lib/observability/metrics.ts';
import { publishConsumerLag } from '../../lib/observability/consumer-lag.ts';

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
    ]),
  );
  if (request === undefined) {
    // Lag is an operator's figure, not compaction's work: a failed reading must not fail the pass.
    await publishConsumerLag(storage).catch((error: unknown) => log().warn('consumer lag not published', { error }));
  }
  return { partitions };
}
