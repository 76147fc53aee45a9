/**
 * ConsumerLagRecords, as the scheduled compaction pass publishes it: per group and topic,
 * the largest lag over the topic's partitions (Kafka operators alarm on the worst partition,
 * not the sum). The figures come from the same committed-offset reads as lag-driven
 * backpressure (lib/log/backpressure.ts), once per pass rather than per request.
 */
import { readGroupPositions } from '../log/backpressure.ts';
import { listTopics, readHeads } from '../log/topics.ts';
import type { Storage } from '../storage/clients.ts';
import { consumerLagData, publishMetrics, type GroupTopicLag } from './metrics.ts';

/** Per (group, topic): the largest lag over the partitions the group has committed on. Pure. */
export function largestPartitionLag(heads: ReadonlyArray<{ partition: number; logStartOffset: number; highWatermark: number }>, committed: ReadonlyMap<number, number>): number | undefined {
  let largest: number | undefined;
  for (const head of heads) {
    const offset = committed.get(head.partition);
    if (offset === undefined) continue;
    const lag = Math.max(0, head.highWatermark - Math.max(offset, head.logStartOffset));
    largest = Math.max(largest ?? 0, lag);
  }
  return largest;
}

/** Every group's largest partition lag on every topic it has committed on. */
export async function readConsumerLags(storage: Storage): Promise<GroupTopicLag[]> {
  const lags: GroupTopicLag[] = [];
  for (const topic of await listTopics(storage)) {
    const [heads, groups] = await Promise.all([readHeads(storage, topic), readGroupPositions(storage, topic)]);
    for (const { group, committed } of groups) {
      const lagRecords = largestPartitionLag(heads, committed);
      if (lagRecords !== undefined) lags.push({ group, topic: topic.name, lagRecords });
    }
  }
  return lags;
}

/** Reads and publishes ConsumerLagRecords (bounded by MAX_GROUP_SERIES_PER_PASS); returns what it published. */
export async function publishConsumerLag(storage: Storage): Promise<GroupTopicLag[]> {
  const lags = await readConsumerLags(storage);
  publishMetrics(consumerLagData(lags));
  return lags;
}
