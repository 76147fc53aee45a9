/**
 * Group consumers under faults: each member reaches the stack through a fault proxy of its
 * own (test/support/fault-proxy.ts), so one member's groups route can fail while its fetches
 * still work, and one member runs in a child process that is killed with SIGKILL.
 *
 * Processing is recorded per record as an interval [start of eachMessage, its return]; the
 * invariant asserted is that no two members ever process one partition at the same moment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { Sluice, type GroupConsumer, type TopicPartition } from '../../lib/client/index.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { startTestStack } from '../support/stack.ts';
import { until } from './group-members.ts';
import { createTopic } from './helpers.ts';

let stack: LocalStack;
const proxies: FaultProxy[] = [];
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  for (const proxy of proxies) await proxy.close();
  await stack?.close();
});

/** One record's processing by one member. */
interface Interval {
  member: string;
  partition: number;
  offset: number;
  startMs: number;
  endMs: number;
}

/** Pairs of intervals in which two members processed one partition at the same moment. */
function concurrent(intervals: readonly Interval[]): Array<[Interval, Interval]> {
  const found: Array<[Interval, Interval]> = [];
  const byPartition = new Map<number, Interval[]>();
  for (const i of intervals) byPartition.set(i.partition, [...(byPartition.get(i.partition) ?? []), i]);
  for (const list of byPartition.values()) {
    for (const a of list) for (const b of list) if (a.member < b.member && a.startMs < b.endMs && b.startMs < a.endMs) found.push([a, b]);
  }
  return found;
}

/** Session 4 s, heartbeat 400 ms: a member stops 800 ms before the server may move its partitions, margin for a loaded machine. */
const TIMINGS = { sessionTimeoutMs: 4000, heartbeatIntervalMs: 400, autoCommitIntervalMs: 200, maxWaitMs: 300, autoOffsetReset: 'earliest' } as const;
const HANDLE_MS = 10;

interface Member {
  consumer: GroupConsumer;
  proxy: FaultProxy;
  owned: Set<number>;
  events: string[];
}

async function startMember(name: string, group: string, topic: string, intervals: Interval[], onRevoked?: (partitions: TopicPartition[]) => Promise<void>): Promise<Member> {
  const proxy = await startFaultProxy(stack.url, { seed: name.charCodeAt(0) });
  proxies.push(proxy);
  const consumer = new Sluice({ url: proxy.url }).consumer({ groupId: group, ...TIMINGS });
  consumer.subscribe({ topic });
  const member: Member = { consumer, proxy, owned: new Set(), events: [] };
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const startMs = Date.now();
      await new Promise((resolve) => setTimeout(resolve, HANDLE_MS));
      intervals.push({ member: name, partition, offset: message.offset, startMs, endMs: Date.now() });
    },
    onPartitionsAssigned: (partitions) => {
      member.events.push(`assigned ${partitions.map((p) => p.partition).join(',')}`);
      for (const p of partitions) member.owned.add(p.partition);
    },
    onPartitionsRevoked: async (partitions) => {
      member.events.push(`revoked ${partitions.map((p) => p.partition).join(',')}`);
      await onRevoked?.(partitions);
      for (const p of partitions) member.owned.delete(p.partition);
    },
    onPartitionsLost: (partitions) => {
      member.events.push(`lost ${partitions.map((p) => p.partition).join(',')}`);
      for (const p of partitions) member.owned.delete(p.partition);
    },
  });
  return member;
}

/** A member in a child process, reporting its processing on stdout; SIGKILL ends it mid-record. */
function startChildMember(name: string, group: string, topic: string, intervals: Interval[]): { child: ChildProcess; ready: Promise<void>; kill: () => void } {
  const script = fileURLToPath(new URL('../support/group-member-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, stack.url, group, topic, String(TIMINGS.sessionTimeoutMs), String(TIMINGS.heartbeatIntervalMs), String(HANDLE_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const open = new Map<string, number>();
  let killedAtMs: number | undefined;
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const event = JSON.parse(line) as { event: string; partition: number; offset: number; atMs: number };
    if (event.event === 'ready') return ready();
    const k = `${event.partition}:${event.offset}`;
    if (event.event === 'start') open.set(k, event.atMs);
    else {
      intervals.push({ member: name, partition: event.partition, offset: event.offset, startMs: open.get(k) ?? event.atMs, endMs: event.atMs });
      open.delete(k);
    }
  });
  return {
    child,
    ready: readyPromise,
    kill: () => {
      killedAtMs = Date.now();
      child.kill('SIGKILL');
      // A record it had started is processed until the moment it died.
      for (const [k, startMs] of open) {
        const [partition, offset] = k.split(':').map(Number) as [number, number];
        intervals.push({ member: name, partition, offset, startMs, endMs: killedAtMs });
      }
      open.clear();
    },
  };
}

describe('GroupConsumer under faults', () => {
  it('never has two members process one partition at once: a SIGKILLed member, then a slow revoke callback while the groups route fails (4 partitions)', async () => {
    // Prepare
    const topic = 'overlap';
    const group = 'overlap-group';
    await createTopic(stack.url, topic, 4);
    const intervals: Interval[] = [];
    const producer = new Sluice({ url: stack.url }).producer({ lingerMs: 0 });
    let producing = true;
    const production = (async () => {
      for (let i = 0; producing; i++) {
        await producer.send({ topic, messages: [0, 1, 2, 3].map((partition) => ({ partition, value: `v${i}` })) }).catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    })();
    let hangRevoke = false;
    let revokeEntered = false;
    let releaseRevoke!: () => void;
    const revokeReleased = new Promise<void>((resolve) => (releaseRevoke = resolve));
    const a = await startMember('a', group, topic, intervals, async () => {
      if (!hangRevoke) return;
      revokeEntered = true;
      await revokeReleased;
    });
    const processedBy = (member: string, sinceMs: number) => new Set(intervals.filter((i) => i.member === member && i.startMs >= sinceMs).map((i) => i.partition));
    try {
      await until(() => a.owned.size === 4, 'a to own all 4 partitions', 20_000);

      // Act 1: a member in another process joins, processes, and is killed with SIGKILL.
      const c = startChildMember('c', group, topic, intervals);
      await c.ready;
      await until(() => intervals.some((i) => i.member === 'c'), 'the child member to process records', 30_000);
      c.kill();
      await until(() => a.owned.size === 4, "a to take the killed member's partitions", 30_000);
      const afterKillMs = Date.now();
      await until(() => processedBy('a', afterKillMs).size === 4, 'a to process all 4 partitions again', 20_000);

      // Act 2: b joins; a's revocation callback hangs, and meanwhile a's groups route fails (fetches still work).
      hangRevoke = true;
      const b = await startMember('b', group, topic, intervals);
      await until(() => revokeEntered, "a's onPartitionsRevoked to be called", 20_000);
      const removeRule = a.proxy.rule({ match: (r) => r.path.startsWith('/v1/groups/'), action: { kind: 'status', status: 503 } });
      const cutMs = Date.now();
      await until(() => b.owned.size === 4 && processedBy('b', cutMs).size === 4, "b to own and process all 4 partitions once a's session expired", 30_000);
      // Long enough for a member that did not stop to be caught processing.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const lateForA = intervals.filter((i) => i.member === 'a' && i.startMs > cutMs + TIMINGS.sessionTimeoutMs);
      releaseRevoke();
      removeRule();

      // Assess
      expect(concurrent(intervals)).toEqual([]);
      expect(lateForA).toEqual([]);
      // onPartitionsLost runs in turn, after the revocation callback that was hanging.
      await until(() => a.events.some((e) => e.startsWith('lost')), "a's onPartitionsLost", 15_000);
      await b.consumer.stop({ timeoutMs: 10_000 });
      await a.consumer.stop({ timeoutMs: 10_000 });
    } finally {
      producing = false;
      releaseRevoke();
      await production;
      await producer.disconnect();
    }
  });
});
