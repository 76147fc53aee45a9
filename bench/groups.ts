/**
 * Consumer-group rebalances through the client, against a running stack.
 *
 *   join     3 members share a 6-partition topic; a 4th joins. Time from its run() to the
 *            group settled again (every partition owned by exactly one member, shares 2/2/1/1):
 *            the join heartbeat, the revoking members' next heartbeats, their commits and
 *            releases, then the new member's heartbeat that picks the partitions up.
 *   crash    one of 4 members is cut off the network (no leave). Time from the cut to the
 *            survivors owning all 6 partitions: about the session timeout, plus up to one
 *            heartbeat interval for a survivor to notice.
 *
 * Heartbeats and commits sent during each phase are counted, so DynamoDB requests per
 * heartbeat and per commit can be read off the server's own counters by the caller.
 *
 *   npx tsx bench/groups.ts http://127.0.0.1:4100
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { BatchWriteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { Sluice, type GroupConsumer } from '../lib/client/index.ts';
import { assign } from '../lib/groups/assignors.ts';
import { newGroupMeta } from '../lib/groups/reconcile.ts';
import type { Member as GroupMember } from '../lib/groups/schema.ts';
import { memberToItem, metaItems } from '../lib/groups/store.ts';
import { sharedStorage } from '../lib/storage/clients.ts';
import type { LocalStack } from '../local/stack.ts';

const PARTITIONS = 6;
const RUNS = Number(process.env.BENCH_GROUP_RUNS ?? 3);

export interface GroupBenchOptions {
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  runs?: number;
}

export interface RebalanceTimes {
  /** Milliseconds, one per run. */
  runsMs: number[];
  medianMs: number;
  heartbeats: number;
  commits: number;
}

export interface GroupBenchResult {
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  join: RebalanceTimes;
  crash: RebalanceTimes;
}

interface Member {
  consumer: GroupConsumer;
  owned: Set<number>;
  cut(): void;
}

interface Counters {
  heartbeats: number;
  commits: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function startMember(url: string, groupId: string, topic: string, options: Required<Omit<GroupBenchOptions, 'runs'>>, counters: Counters): Promise<Member> {
  let cut = false;
  const fetch: typeof globalThis.fetch = async (input, init) => {
    if (cut) throw new TypeError('fetch failed');
    const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
    if (path.endsWith('/heartbeat')) counters.heartbeats++;
    if (init?.method === 'POST' && path.endsWith('/offsets')) counters.commits++;
    return globalThis.fetch(input, init);
  };
  const consumer = new Sluice({ url, fetch }).consumer({ groupId, ...options, autoOffsetReset: 'earliest', maxWaitMs: 1000 });
  consumer.subscribe({ topic });
  const owned = new Set<number>();
  const drop = (partitions: Array<{ partition: number }>) => partitions.forEach((p) => owned.delete(p.partition));
  await consumer.run({
    eachMessage: () => {},
    onPartitionsAssigned: (partitions) => partitions.forEach((p) => owned.add(p.partition)),
    onPartitionsRevoked: drop,
    onPartitionsLost: drop,
  });
  return { consumer, owned, cut: () => void (cut = true) };
}

/** Every partition owned by exactly one of `members`, in shares that differ by at most one. */
function settled(members: readonly Member[]): boolean {
  const all = members.flatMap((m) => [...m.owned]);
  const sizes = members.map((m) => m.owned.size);
  return all.length === PARTITIONS && new Set(all).size === PARTITIONS && Math.max(...sizes) - Math.min(...sizes) <= 1;
}

/** Runs the join and crash measurements; `url` is a running stack. */
export async function benchGroups(url: string, options: GroupBenchOptions = {}): Promise<GroupBenchResult> {
  const timing = { sessionTimeoutMs: options.sessionTimeoutMs ?? 3000, heartbeatIntervalMs: options.heartbeatIntervalMs ?? 300 };
  const runs = options.runs ?? RUNS;
  const admin = new Sluice({ url }).admin();
  const topic = `bench-groups-${randomBytes(3).toString('hex')}`;
  await admin.createTopic({ topic, partitions: PARTITIONS });
  const join: RebalanceTimes = { runsMs: [], medianMs: 0, heartbeats: 0, commits: 0 };
  const crash: RebalanceTimes = { runsMs: [], medianMs: 0, heartbeats: 0, commits: 0 };
  try {
    for (let run = 0; run < runs; run++) {
      const groupId = `${topic}-${run}`;
      const counters: Counters = { heartbeats: 0, commits: 0 };
      const members: Member[] = [];
      try {
        for (let i = 0; i < 3; i++) members.push(await startMember(url, groupId, topic, timing, counters));
        await until(() => settled(members), 'three members to settle');

        Object.assign(counters, { heartbeats: 0, commits: 0 });
        const joinStart = performance.now();
        members.push(await startMember(url, groupId, topic, timing, counters));
        await until(() => settled(members), 'the fourth member to take its share');
        join.runsMs.push(performance.now() - joinStart);
        join.heartbeats += counters.heartbeats;
        join.commits += counters.commits;

        const [victim, ...survivors] = members as [Member, ...Member[]];
        Object.assign(counters, { heartbeats: 0, commits: 0 });
        const crashStart = performance.now();
        victim.cut();
        await until(() => settled(survivors), "the survivors to take the crashed member's partitions", timing.sessionTimeoutMs * 10);
        crash.runsMs.push(performance.now() - crashStart);
        crash.heartbeats += counters.heartbeats;
        crash.commits += counters.commits;
      } finally {
        await Promise.all(members.map((m) => m.consumer.stop()));
      }
    }
  } finally {
    await admin.deleteTopic(topic).catch(() => {});
  }
  for (const times of [join, crash]) {
    times.medianMs = median(times.runsMs);
    times.heartbeats /= runs;
    times.commits /= runs;
  }
  return { ...timing, join, crash };
}

export function formatGroupsBench(result: GroupBenchResult): string {
  const row = (name: string, t: RebalanceTimes) => `${name.padEnd(36)}  ${t.medianMs.toFixed(0).padStart(6)}  ${t.runsMs.map((ms) => ms.toFixed(0)).join(' / ').padEnd(20)}  ${t.heartbeats.toFixed(0).padStart(10)}  ${t.commits.toFixed(0).padStart(7)}`;
  return [
    `session timeout ${result.sessionTimeoutMs} ms, heartbeat interval ${result.heartbeatIntervalMs} ms, ${PARTITIONS} partitions`,
    `${'rebalance'.padEnd(36)}  ${'median'.padStart(6)}  ${'runs (ms)'.padEnd(20)}  ${'heartbeats'.padStart(10)}  ${'commits'.padStart(7)}`,
    row('join: 4th member of 3, until settled', result.join),
    row('crash: 1 of 4 cut off, until settled', result.crash),
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.argv[2] ?? process.env.SLUICE_URL;
  if (url === undefined) {
    console.error('usage: npx tsx bench/groups.ts <url of a running stack, e.g. http://127.0.0.1:4100>');
    process.exit(2);
  }
  console.log(`Sluice consumer groups, node ${process.version}, against ${url}`);
  console.log(formatGroupsBench(await benchGroups(url)));
}

/**
 * What one steady heartbeat costs the server as the group grows: DynamoDB requests and
 * capacity units per heartbeat, for a stable group of `members` on one 1000-partition topic
 * (state written directly, then `beats` heartbeats counted on the handlers' own client).
 * The target: the same requests at 3 and at 500 members.
 */
export interface HeartbeatScaling {
  members: number;
  requestsPerHeartbeat: Record<string, number>;
  readUnitsPerHeartbeat: number;
  writeUnitsPerHeartbeat: number;
  /** The one heartbeat per group that finds a sweep due (about once per session timeout): a full read of the group and a META write. */
  sweep: { requests: Record<string, number>; readUnits: number; writeUnits: number };
}

export async function benchHeartbeatScaling(stack: LocalStack, sizes: readonly number[] = [3, 50, 500], beats = 60): Promise<HeartbeatScaling[]> {
  const results: HeartbeatScaling[] = [];
  const ddb = sharedStorage().ddb;
  const counts: Record<string, number> = {};
  let readUnits = 0;
  let writeUnits = 0;
  let counting = false;
  ddb.middlewareStack.add(
    (next, context) => async (args) => {
      if (!counting) return next(args);
      const name = context.commandName as string;
      counts[name] = (counts[name] ?? 0) + 1;
      (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const consumed = (result.output as { ConsumedCapacity?: { ReadCapacityUnits?: number; WriteCapacityUnits?: number; CapacityUnits?: number } | Array<{ CapacityUnits?: number }> }).ConsumedCapacity;
      for (const c of Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed]) {
        if (name === 'QueryCommand' || name === 'GetCommand' || name === 'GetItemCommand' || name === 'BatchGetItemCommand') readUnits += c.CapacityUnits ?? 0;
        else writeUnits += c.CapacityUnits ?? 0;
      }
      return result;
    },
    { step: 'initialize', name: 'benchHeartbeatScaling' },
  );
  try {
    for (const size of sizes) {
      const topic = `bench-scale-${size}`;
      const created = (await (await fetch(`${stack.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: topic, partitions: 1000 }) })).json()) as { topicId: string };
      const group = `${topic}-group`;
      const ids = Array.from({ length: size }, (_, i) => `member-${i}-${randomBytes(8).toString('hex')}`);
      const target = assign('uniform', { subscriptions: new Map(ids.map((id) => [id, [topic]])), partitionCounts: new Map([[topic, 1000]]), current: new Map() });
      const nowMs = Date.now();
      const meta = {
        ...newGroupMeta(group), groupEpoch: 1, assignmentEpoch: 1, topics: [{ name: topic, topicId: created.topicId, partitions: 1000 }], target, sessionTimeoutMs: 300_000,
        subscribedNames: [topic], nextSweepAtMs: nowMs + 300_000, version: 1,
      };
      for (const Item of metaItems(meta)) await stack.storage.ddb.send(new PutCommand({ TableName: stack.storage.env.tableName, Item }));
      const members: GroupMember[] = ids.map((memberId) => ({
        memberId, memberEpoch: 1, previousMemberEpoch: 0, subscribedTopics: [topic], assignor: 'uniform', assigned: target.get(memberId) ?? [], revoking: [],
        revokeDeadlineMs: 0, rebalanceTimeoutMs: 300_000, fenced: false, atTarget: true, assignmentVersion: 1, expiresAtMs: nowMs + 300_000, lastHeartbeatMs: nowMs, joinedAtMs: nowMs,
      }));
      for (let i = 0; i < members.length; i += 25) {
        const RequestItems = { [stack.storage.env.tableName]: members.slice(i, i + 25).map((m) => ({ PutRequest: { Item: memberToItem(group, m) } })) };
        await stack.storage.ddb.send(new BatchWriteCommand({ RequestItems }));
      }
      for (const k of Object.keys(counts)) delete counts[k];
      readUnits = 0;
      writeUnits = 0;
      const beatOnce = async (m: GroupMember) => {
        const partitions = m.assigned.map((k) => Number(k.slice(k.lastIndexOf(':') + 1)));
        const res = await fetch(`${stack.url}/v1/groups/${group}/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ memberId: m.memberId, memberEpoch: 1, ownedPartitions: [{ topic, partitions }] }) });
        if (res.status !== 200) throw new Error(`heartbeat: ${res.status} ${await res.text()}`);
      };
      counting = true;
      for (let i = 0; i < beats; i++) await beatOnce(members[i % members.length] as GroupMember);
      counting = false;
      const per = (n: number) => Number((n / beats).toFixed(2));
      const steady = { requestsPerHeartbeat: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, per(v)])), readUnitsPerHeartbeat: per(readUnits), writeUnitsPerHeartbeat: per(writeUnits) };
      // A sweep due: the next heartbeat reads the whole group once and moves the sweep time on.
      await stack.storage.ddb.send(new UpdateCommand({ TableName: stack.storage.env.tableName, Key: { pk: `GRP#${group}`, sk: 'META' }, UpdateExpression: 'SET nextSweepAtMs = :zero', ExpressionAttributeValues: { ':zero': 0 } }));
      for (const k of Object.keys(counts)) delete counts[k];
      readUnits = 0;
      writeUnits = 0;
      counting = true;
      await beatOnce(members[0] as GroupMember);
      counting = false;
      results.push({ members: size, ...steady, sweep: { requests: { ...counts }, readUnits: Number(readUnits.toFixed(2)), writeUnits: Number(writeUnits.toFixed(2)) } });
    }
  } finally {
    counting = false;
    ddb.middlewareStack.remove('benchHeartbeatScaling');
  }
  return results;
}

function requests(counts: Record<string, number>): string {
  return Object.entries(counts).map(([k, v]) => `${v} ${k.replace('Command', '')}`).join(' + ');
}

/** A Markdown table of benchHeartbeatScaling's results. */
export function formatHeartbeatScaling(rows: readonly HeartbeatScaling[]): string {
  return [
    '| members | DynamoDB requests per steady heartbeat | read units | write units | the heartbeat that sweeps (≈ once per group per session timeout) | read units | write units |',
    '|---:|---|---:|---:|---|---:|---:|',
    ...rows.map((r) => `| ${r.members} | ${requests(r.requestsPerHeartbeat)} | ${r.readUnitsPerHeartbeat} | ${r.writeUnitsPerHeartbeat} | ${requests(r.sweep.requests)} | ${r.sweep.readUnits} | ${r.sweep.writeUnits} |`),
  ].join('\n');
}
