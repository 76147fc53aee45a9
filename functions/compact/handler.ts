import { sharedStorage } from '../../lib/storage/clients.ts';
import { compactAll, compactTopicPartition, type PartitionReport } from '../../lib/retention/compact.ts';
import { partitionRequested } from '../../lib/retention/invocation.ts';

/** Retention, merging and garbage collection: one partition when asked, everything on the schedule. */
export async function handler(event: unknown): Promise<{ partitions: PartitionReport[] }> {
  const storage = sharedStorage();
  const request = partitionRequested(event);
  const partitions = request === undefined ? await compactAll(storage) : [await compactTopicPartition(storage, request.topic, request.partition)];
  console.log(JSON.stringify({ level: 'INFO', message: 'compaction finished', partitions: partitions.filter((p) => p.ran && (p.removedSegments || p.mergedRuns || p.deletedObjects || p.deletedOrphans)) }));
  return { partitions };
}
