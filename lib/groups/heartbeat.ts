import { GROUPS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import { backoffDelayMs, sleep } from '../retry.ts';
import type { Storage } from '../storage/clients.ts';
import { parseTpKey, type TopicPartitionKey } from './assignors.ts';
import { reconcile, type HeartbeatRequest, type HeartbeatResponse } from './reconcile.ts';
import { maySteady, steadyHeartbeat } from './steady.ts';
import { readGroup, readMetaAndMember, writeGroup } from './store.ts';
import { groupTopics } from './topic-partitions.ts';
import { tally } from '../observability/metrics.ts';

/** Partitions as the API carries them: `[{topic, partitions: [n, …]}]`. */
export type TopicPartitions = Array<{ topic: string; partitions: number[] }>;

/** Groups `topic:partition` keys by topic, sorted. */
export function toTopicPartitions(keys: readonly TopicPartitionKey[]): TopicPartitions {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of keys.map(parseTpKey)) {
    const list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, [partition]);
    else list.push(partition);
  }
  return [...byTopic].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([topic, partitions]) => ({ topic, partitions: partitions.sort((x, y) => x - y) }));
}

export interface HeartbeatResult {
  memberEpoch: number;
  assignment: TopicPartitions;
  heartbeatIntervalMs: number;
  sessionTimeoutMs: number;
}

function result(answer: HeartbeatResponse): HeartbeatResult {
  return { memberEpoch: answer.memberEpoch, assignment: toTopicPartitions(answer.assignment), heartbeatIntervalMs: answer.heartbeatIntervalMs, sessionTimeoutMs: answer.sessionTimeoutMs };
}

/**
 * One heartbeat. A steady one (steady.ts) reads META and the member's own item and writes
 * that item; any other reads the whole group (one Query), applies the pure transition and
 * writes conditionally. A lost race re-reads and tries again; UNKNOWN_MEMBER_ID and
 * FENCED_MEMBER_EPOCH are answers, not races.
 */
export async function heartbeat(storage: Storage, group: string, request: HeartbeatRequest, clock: () => number = Date.now): Promise<HeartbeatResult> {
  for (let attempt = 0; attempt < GROUPS.maxAttempts; attempt++) {
    if (maySteady(request)) {
      const read = await readMetaAndMember(storage, group, request.memberId);
      const nowMs = clock();
      if (read.meta !== undefined && read.member !== undefined && nowMs < read.meta.nextSweepAtMs) {
        const topics = await groupTopics(storage, read.meta.subscribedNames, read.meta.topics, nowMs, read.meta.subscribedRegexes);
        const steady = steadyHeartbeat(read.meta, read.member, request, topics, nowMs);
        if (steady !== undefined) {
          if (await writeGroup(storage, { group, readVersion: read.meta.version, meta: undefined, member: { next: steady.member, read: read.member }, others: [] })) return result(steady.response);
          await sleep(backoffDelayMs(attempt, { baseMs: 10, capMs: 200 }));
          continue;
        }
      }
    }
    const read = await readGroup(storage, group);
    const nowMs = clock();
    const existing = read.members.find((m) => m.memberId === request.memberId);
    const membersOf = read.members.filter((m) => m.memberId !== request.memberId);
    const names = [...membersOf.flatMap((m) => m.subscribedTopics), ...(request.subscribedTopics ?? existing?.subscribedTopics ?? [])];
    const requestRegex = request.subscribedTopicRegex === undefined ? existing?.subscribedRegex : request.subscribedTopicRegex === '' ? undefined : request.subscribedTopicRegex;
    const regexes = [...new Set([...membersOf.flatMap((m) => m.subscribedRegex ?? []), ...(requestRegex === undefined ? [] : [requestRegex])])];
    const topics = await groupTopics(storage, names, read.meta?.topics ?? [], nowMs, regexes);
    const outcome = reconcile(group, read.meta, read.members, request, topics, nowMs);
    if (outcome.kind === 'rejected') throw new SluiceError(outcome.error, outcome.message);
    const written = await writeGroup(storage, {
      group,
      readVersion: read.meta?.version,
      meta: outcome.meta,
      member: outcome.member === undefined ? undefined : { next: outcome.member, read: existing },
      others: outcome.others,
    });
    if (written) {
      if (outcome.meta !== undefined && outcome.meta.groupEpoch > (read.meta?.groupEpoch ?? 0)) tally('Rebalances', { group });
      const answer = outcome.response;
      if ('error' in answer) throw new SluiceError(answer.error, answer.message);
      return result(answer);
    }
    await sleep(backoffDelayMs(attempt, { baseMs: 10, capMs: 200 }));
  }
  throw new SluiceError('THROTTLING_QUOTA_EXCEEDED', `Group ${group} is changing too fast to settle this heartbeat; retry`, { retryAfterSeconds: 1 });
}
