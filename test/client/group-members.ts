/**
 * Group consumers for tests: each with its own fetch, so a test can cut one member off the
 * network (a crash as the rest of the group sees it) or answer one request with a fault,
 * and with an ownership timeline recorded from its rebalance callbacks.
 */
import { Sluice, type ConsumedMessage, type GroupConsumer, type GroupConsumerOptions, type TopicPartition } from '../../lib/client/index.ts';
import type { Ownership } from '../support/group-member.ts';
import type { Fault } from './helpers.ts';

/** One record as a member handled it. */
export interface Handled {
  member: string;
  topic: string;
  partition: number;
  offset: number;
  value: string;
  atMs: number;
}

export interface TestMember {
  name: string;
  consumer: GroupConsumer;
  /** Every request fails as a dropped connection from now on. */
  cut(): void;
  cutAtMs: number | undefined;
  /** Answers the next request whose path ends with the suffix with this fault. */
  fault(pathSuffix: string, fault: Fault): void;
  /** Rebalance callbacks, in order. */
  events: Array<{ kind: 'assigned' | 'revoked' | 'lost'; partitions: string[]; atMs: number }>;
  owned(): string[];
}

export const tp = (p: TopicPartition) => `${p.topic}:${p.partition}`;

/** Fast timings for tests: a dead member is noticed in 2 s. */
export const FAST = { sessionTimeoutMs: 2000, heartbeatIntervalMs: 200, autoCommitIntervalMs: 200, maxWaitMs: 500, autoOffsetReset: 'earliest' } as const;

export interface MemberOptions {
  name: string;
  groupId: string;
  topics: Array<string | RegExp>;
  timeline: Ownership[];
  handled: Handled[];
  options?: Partial<GroupConsumerOptions>;
  /** Runs before a record is recorded as handled. */
  onMessage?: (message: ConsumedMessage, partition: number) => Promise<void> | void;
}

export async function startMember(url: string, m: MemberOptions): Promise<TestMember> {
  const faults: Array<{ suffix: string; fault: Fault }> = [];
  let cutAtMs: number | undefined;
  const fetch: typeof globalThis.fetch = async (input, init) => {
    if (cutAtMs !== undefined) throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
    const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
    const at = faults.findIndex((f) => path.endsWith(f.suffix));
    if (at >= 0) {
      const { fault } = faults.splice(at, 1)[0] as { fault: Fault };
      return new Response(JSON.stringify(fault.body), { status: fault.status, headers: { 'content-type': 'application/json' } });
    }
    return globalThis.fetch(input, init);
  };
  const consumer = new Sluice({ url, fetch }).consumer({ groupId: m.groupId, ...FAST, ...m.options });
  consumer.subscribe({ topics: m.topics });
  const owned = new Set<string>();
  const events: TestMember['events'] = [];
  const close = (kind: 'revoked' | 'lost', partitions: TopicPartition[]) => {
    const now = Date.now();
    events.push({ kind, partitions: partitions.map(tp), atMs: now });
    for (const p of partitions.map(tp)) {
      owned.delete(p);
      const open = m.timeline.find((o) => o.member === m.name && o.partition === p && o.toMs === null);
      if (open !== undefined) open.toMs = now;
    }
  };
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      await m.onMessage?.(message, partition);
      // A member cut off is dead: whatever it does afterwards does not count as processing.
      if (cutAtMs !== undefined) return;
      m.handled.push({ member: m.name, topic, partition, offset: message.offset, value: message.value?.toString() ?? '', atMs: Date.now() });
    },
    onPartitionsAssigned: (partitions) => {
      const now = Date.now();
      events.push({ kind: 'assigned', partitions: partitions.map(tp), atMs: now });
      for (const p of partitions.map(tp)) {
        owned.add(p);
        m.timeline.push({ member: m.name, partition: p, fromMs: now, toMs: null });
      }
    },
    onPartitionsRevoked: (partitions) => close('revoked', partitions),
    onPartitionsLost: (partitions) => close('lost', partitions),
  });
  return {
    name: m.name,
    consumer,
    cut: () => void (cutAtMs = Date.now()),
    get cutAtMs() {
      return cutAtMs;
    },
    fault: (suffix, fault) => void faults.push({ suffix, fault }),
    events,
    owned: () => [...owned].sort(),
  };
}

/** Waits until `condition` holds, polling; fails with `what` after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Records handled outside an ownership interval of the member that handled them. */
export function handledOutsideOwnership(handled: readonly Handled[], timeline: readonly Ownership[]): Handled[] {
  return handled.filter((h) => !timeline.some((o) => o.member === h.member && o.partition === `${h.topic}:${h.partition}` && o.fromMs <= h.atMs && h.atMs <= (o.toMs ?? Number.POSITIVE_INFINITY)));
}
