/** Which partitions of a described topic are hot: the client's reading of `produceRate`. */
import type { TopicDescription } from './types.ts';

/**
 * Partitions receiving more than twice the topic's mean records/s over the last minute, the
 * ones a bad key made hot (issue 12's rule). Empty when nothing is produced, or when the
 * server reports no rates.
 */
export function hotPartitions(topic: Pick<TopicDescription, 'partitions'>): number[] {
  const rates = topic.partitions.map((p) => ({ partition: p.partition, recordsPerSecond: p.produceRate?.recordsPerSecond ?? 0 }));
  if (rates.length === 0) return [];
  const mean = rates.reduce((n, r) => n + r.recordsPerSecond, 0) / rates.length;
  return mean === 0 ? [] : rates.filter((r) => r.recordsPerSecond > 2 * mean).map((r) => r.partition);
}
