import { getTopic, listTopics } from '../log/topics.ts';
import type { Storage } from '../storage/clients.ts';
import type { TopicItem } from '../storage/schema.ts';
import type { GroupTopic } from './schema.ts';
import { topicMatches } from './topic-regex.ts';

/**
 * Topics as group coordination sees them, cached per process for a few seconds, as a Kafka
 * client caches metadata: keeps a steady-state heartbeat at one read (the group Query) and
 * one write, and picks up a raised partition count within the TTL.
 *
 * Each function instance has its own cache, so two instances can disagree for up to the
 * TTL after a topic changes. Left alone, that would make the target assignment flap: one
 * instance recomputes it for 12 partitions, the next heartbeat lands on the other and
 * recomputes it back for 6. So whenever a cached view differs from the one the group's
 * target was computed for, it is read again before use (see `groupTopics`). Ownership is
 * safe either way: a partition is handed out only when no live member holds it, and every
 * hand-out is conditional on META's version. Tested with two instances in
 * test/integration/groups-instances.test.ts and test/integration/instances-caches.test.ts.
 *
 * Regex subscriptions need the list of all topics: it is cached the same way (one listing
 * per instance per TTL, and again only when it disagrees with what the group knows), so a
 * topic created later is picked up within the TTL without a listing on every heartbeat.
 */
const TTL_MS = 5_000;
const cache = new Map<string, { topic: TopicItem | undefined; readAtMs: number }>();

async function readTopic(storage: Storage, name: string, nowMs: number): Promise<TopicItem | undefined> {
  let topic: TopicItem | undefined;
  try {
    topic = await getTopic(storage, name);
  } catch (error) {
    if ((error as { code?: string }).code !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
  }
  cache.set(name, { topic, readAtMs: nowMs });
  return topic;
}

let listing: { topics: TopicItem[]; readAtMs: number } | undefined;

async function listedTopics(storage: Storage, nowMs: number, refresh: boolean): Promise<TopicItem[]> {
  if (listing !== undefined && nowMs - listing.readAtMs < TTL_MS && !(refresh && listing.readAtMs !== nowMs)) return listing.topics;
  listing = { topics: await listTopics(storage), readAtMs: nowMs };
  return listing.topics;
}

/** The topic, or undefined when it does not exist; served from the cache when fresh. */
export async function cachedTopic(storage: Storage, name: string, nowMs = Date.now()): Promise<TopicItem | undefined> {
  const hit = cache.get(name);
  if (hit !== undefined && nowMs - hit.readAtMs < TTL_MS) return hit.topic;
  return readTopic(storage, name, nowMs);
}

/**
 * The topics of `names` that exist, as a group sees them. `known` is what the group's
 * target was computed for: a cached view that differs from it is re-read, so instances
 * with caches of different ages agree on any change the group has already seen.
 */
export async function groupTopics(storage: Storage, names: Iterable<string>, known: readonly GroupTopic[], nowMs = Date.now(), regexes: readonly string[] = []): Promise<Map<string, GroupTopic>> {
  const knownByName = new Map(known.map((t) => [t.name, t]));
  const result = new Map<string, GroupTopic>();
  const explicit = new Set(names);
  if (regexes.length > 0) {
    const matching = (topics: readonly GroupTopic[]): GroupTopic[] => topics.filter((t) => !explicit.has(t.name) && regexes.some((re) => topicMatches(re, t.name)));
    const view = (topics: readonly GroupTopic[]) => JSON.stringify(topics.map((t) => [t.name, t.topicId, t.partitions]).sort());
    let listed = matching(await listedTopics(storage, nowMs, false));
    if (view(listed) !== view(matching(known))) listed = matching(await listedTopics(storage, nowMs, true));
    for (const t of listed) result.set(t.name, { name: t.name, topicId: t.topicId, partitions: t.partitions });
  }
  for (const name of explicit) {
    let topic = await cachedTopic(storage, name, nowMs);
    const seen = knownByName.get(name);
    // A topic the group does not know yet: the cache may lag its creation, which only delays it.
    const agrees = seen === undefined || (topic !== undefined && topic.topicId === seen.topicId && topic.partitions === seen.partitions);
    if (!agrees) topic = await readTopic(storage, name, nowMs);
    if (topic !== undefined) result.set(name, { name, topicId: topic.topicId, partitions: topic.partitions });
  }
  return result;
}
