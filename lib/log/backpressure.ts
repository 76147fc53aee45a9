/**
 * Lag-driven backpressure: while a consumer group lags a topic by more than the topic's
 * `sluice.backpressure.max.lag.records`, produce answers 429 THROTTLING_QUOTA_EXCEEDED with
 * Retry-After, naming the group. Producers then wait (and, with a full buffer, their callers
 * block) until the group catches up, instead of pushing it past retention.
 *
 * The figure: a group's lag on a topic is the sum over its committed partitions of
 * highWatermark - max(committed, logStartOffset), as describeGroup computes it. Committed
 * offsets are the items every commit writes (lib/groups/offsets.ts), listed through the
 * per-topic index of groups that commit there; nothing is scanned per produce request:
 *
 *   produce ─► cache (per instance, per topic, lagCacheMs) ─ miss ─► Query TOFF#<topicId>  (groups)
 *                                                                   Query GOFF#<group> × groups
 *                                                                   BatchGet heads
 *
 * Staleness: a reading is reused for lagCacheMs (5 s), and committed offsets are as old as
 * the group's last commit (a consumer commits every autoCommitIntervalMs, 5 s). So produce
 * may admit records up to ~lagCacheMs after the limit was crossed, and keeps throttling up to
 * lagCacheMs + one commit interval after the group caught up. The limit is a soft bound.
 *
 * A group counts while it has committed offsets on the topic, live members or not: an
 * abandoned group keeps throttling until it is deleted or its offsets expire. Off (-1, the
 * default) costs nothing.
 */
import { BACKPRESSURE } from '../config/defaults.ts';
import { durationFromEnv } from '../config/env.ts';
import { SluiceError } from '../errors.ts';
import { offsetsPk, topicOffsetsPk } from '../groups/schema.ts';
import type { Storage } from '../storage/clients.ts';
import { queryPages } from '../storage/query-pages.ts';
import type { TopicItem } from '../storage/schema.ts';
import { readHeads, type PartitionState } from './topics.ts';

/** One group's committed offsets on a topic, by partition. */
export interface GroupPositions {
  group: string;
  committed: ReadonlyMap<number, number>;
}

/** The group lagging most, with its lag in records. */
export interface GroupLag {
  group: string;
  lagRecords: number;
}

/** A group's lag on a topic: records between its committed offsets and the heads. Pure. */
export function groupLag(heads: readonly PartitionState[], committed: ReadonlyMap<number, number>): number {
  let lag = 0;
  for (const head of heads) {
    const offset = committed.get(head.partition);
    if (offset !== undefined) lag += Math.max(0, head.highWatermark - Math.max(offset, head.logStartOffset));
  }
  return lag;
}

/** The group lagging most, or undefined when no group has committed offsets. Pure. */
export function mostLagging(heads: readonly PartitionState[], groups: readonly GroupPositions[]): GroupLag | undefined {
  let worst: GroupLag | undefined;
  for (const g of groups) {
    const lagRecords = groupLag(heads, g.committed);
    if (worst === undefined || lagRecords > worst.lagRecords) worst = { group: g.group, lagRecords };
  }
  return worst;
}

/** Every group's committed offsets on this incarnation of the topic (at most BACKPRESSURE.maxGroups groups). */
export async function readGroupPositions(storage: Storage, topic: TopicItem): Promise<GroupPositions[]> {
  const names: string[] = [];
  for await (const page of queryPages<{ group: string }>(storage, { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': topicOffsetsPk(topic.topicId) } })) {
    names.push(...page.map((i) => i.group));
    if (names.length >= BACKPRESSURE.maxGroups) break;
  }
  return Promise.all(
    names.slice(0, BACKPRESSURE.maxGroups).map(async (group) => {
      const committed = new Map<number, number>();
      const pages = queryPages<{ partition: number; offset: number }>(storage, {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': offsetsPk(group), ':prefix': `${topic.topicId}#` },
        ProjectionExpression: '#p, #o',
        ExpressionAttributeNames: { '#p': 'partition', '#o': 'offset' },
      });
      // Bounded by the topic's partition count (one item per partition).
      for await (const page of pages) for (const item of page) committed.set(item.partition, item.offset);
      return { group, committed };
    }),
  );
}

/** The group lagging most on `topic`, read from storage now. */
export async function readTopicLag(storage: Storage, topic: TopicItem): Promise<GroupLag | undefined> {
  const [heads, groups] = await Promise.all([readHeads(storage, topic), readGroupPositions(storage, topic)]);
  return mostLagging(heads, groups);
}

/** Per instance: topicId → the last reading and when it goes stale. */
const cache = new Map<string, { expiresAtMs: number; reading: Promise<GroupLag | undefined> }>();

/**
 * Refuses a produce with a retriable THROTTLING_QUOTA_EXCEEDED while some group lags `topic`
 * by more than its `sluice.backpressure.max.lag.records`; returns at once when that is -1.
 */
export async function checkBackpressure(storage: Storage, topic: TopicItem, nowMs = Date.now(), env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const maxLagRecords = topic.configs['sluice.backpressure.max.lag.records'];
  if (maxLagRecords === undefined || maxLagRecords < 0) return;
  const periodMs = durationFromEnv('SLUICE_BACKPRESSURE_LAG_CACHE_MS', BACKPRESSURE.lagCacheMs, env);
  let entry = cache.get(topic.topicId);
  if (entry === undefined || entry.expiresAtMs <= nowMs) {
    const reading = readTopicLag(storage, topic);
    entry = { expiresAtMs: nowMs + periodMs, reading };
    cache.set(topic.topicId, entry);
    // A failed reading is not cached: the next request reads again.
    reading.catch(() => cache.get(topic.topicId) === entry && cache.delete(topic.topicId));
  }
  const worst = await entry.reading;
  if (worst === undefined || worst.lagRecords <= maxLagRecords) return;
  throw new SluiceError(
    'THROTTLING_QUOTA_EXCEEDED',
    `Consumer group ${JSON.stringify(worst.group)} lags topic ${JSON.stringify(topic.name)} by ${worst.lagRecords} records, over its sluice.backpressure.max.lag.records (${maxLagRecords}); produce is throttled until it catches up`,
    { retryAfterSeconds: Math.max(1, Math.ceil(periodMs / 1000)), details: { group: worst.group, lagRecords: worst.lagRecords, maxLagRecords } },
  );
}
