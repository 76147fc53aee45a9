import { getTopic } from '../log/topics.ts';
import type { Storage } from '../storage/clients.ts';
import type { TopicItem } from '../storage/schema.ts';

/**
 * Partition counts as group coordination sees them, cached per process for a few seconds,
 * as a Kafka client caches metadata: keeps a steady-state heartbeat at one read (the group
 * Query) and one write, and picks up a raised partition count within the TTL.
 * Staleness: up to TTL_MS per instance, and instances disagree meanwhile (one still sees
 * the old count). Ownership stays safe: a partition is handed out only when no live member
 * holds it as assigned or owned, whatever count computed the target, and every hand-out is
 * conditional on META's version. The cost is churn: heartbeats on instances that disagree
 * recompute the target back and forth until the TTL passes. Tested with two instances in
 * test/integration/instances-caches.test.ts.
 */
const TTL_MS = 5_000;
const cache = new Map<string, { topic: TopicItem | undefined; readAtMs: number }>();

/** The topic, or undefined when it does not exist; served from the cache when fresh. */
export async function cachedTopic(storage: Storage, name: string, nowMs = Date.now()): Promise<TopicItem | undefined> {
  const hit = cache.get(name);
  if (hit !== undefined && nowMs - hit.readAtMs < TTL_MS) return hit.topic;
  let topic: TopicItem | undefined;
  try {
    topic = await getTopic(storage, name);
  } catch (error) {
    if ((error as { code?: string }).code !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
  }
  cache.set(name, { topic, readAtMs: nowMs });
  return topic;
}

/** Partition counts of `topics` that exist. */
export async function partitionCounts(storage: Storage, topics: Iterable<string>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const name of new Set(topics)) {
    const topic = await cachedTopic(storage, name);
    if (topic !== undefined) counts.set(name, topic.partitions);
  }
  return counts;
}
