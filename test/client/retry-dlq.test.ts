import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { RecordNotDue } from '../../lib/client/retry-hold.ts';
import { Sluice, type EachMessagePayload, type GroupConsumer } from '../../lib/client/index.ts';
import { startTestStack } from '../support/stack.ts';
import { until } from './group-members.ts';
import { createTopic, readAll } from './helpers.ts';

let stack: LocalStack;
let sluice: Sluice;
beforeAll(async () => {
  stack = await startTestStack();
  sluice = new Sluice({ url: stack.url });
});
afterAll(async () => {
  await stack?.close();
});

/** A long session: a member slowed down by a loaded machine must not lose its partitions (and hand records out twice). */
const TIMINGS = { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 200, autoCommitIntervalMs: 200, maxWaitMs: 300, autoOffsetReset: 'earliest' } as const;

/** Produces one record per key (value `<key>`), keyed so each key lands on its murmur2 partition. */
async function produceKeys(topic: string, keys: readonly string[]): Promise<void> {
  const producer = sluice.producer();
  await producer.send({ topic, messages: keys.map((key) => ({ key, value: key })) });
  await producer.disconnect();
}

interface Attempt {
  topic: string;
  partition: number;
  key: string;
  atMs: number;
  headers: Record<string, string>;
  ok: boolean;
}

function attemptOf({ topic, partition, message }: EachMessagePayload, ok: boolean): Attempt {
  const headers = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, String(v)]));
  return { topic, partition, key: message.key?.toString() ?? '', atMs: Date.now(), headers, ok };
}

async function member(groupId: string, topic: string, run: Parameters<GroupConsumer['run']>[0]): Promise<GroupConsumer> {
  const consumer = sluice.consumer({ groupId, ...TIMINGS });
  consumer.subscribe({ topic });
  await consumer.run(run);
  return consumer;
}

describe('consumer.run({ retry })', () => {
  it('processes keys that fail twice exactly once each, through .retry.1 and .retry.2, never before each delay', async () => {
    // Prepare
    await createTopic(stack.url, 'payments', 2);
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    // k3 and k2 land on different partitions (murmur2), so both retry partitions are exercised.
    const flaky = new Set(['k3', 'k2']);
    await produceKeys('payments', keys);
    const attempts: Attempt[] = [];
    const failures = new Map<string, number>();

    // Act
    const consumer = await member('payments-app', 'payments', {
      retry: { delaysMs: [300, 600] },
      eachMessage: (payload) => {
        const key = payload.message.key?.toString() ?? '';
        const failed = failures.get(key) ?? 0;
        const ok = !flaky.has(key) || failed >= 2;
        attempts.push(attemptOf(payload, ok));
        if (!ok) {
          failures.set(key, failed + 1);
          throw new Error(`attempt ${failed + 1} of ${key} failed`);
        }
      },
    });
    await until(() => attempts.filter((a) => a.ok).length >= keys.length, 'every key handled', 20_000);
    await consumer.stop();

    // Assess: each key handled successfully once; the flaky ones on their third attempt.
    const succeeded = attempts.filter((a) => a.ok).map((a) => a.key);
    expect([...succeeded].sort()).toEqual([...keys].sort());
    for (const key of flaky) {
      const [first, second, third] = attempts.filter((a) => a.key === key);
      expect([first?.topic, second?.topic, third?.topic]).toEqual(['payments', 'payments.retry.1', 'payments.retry.2']);
      expect(third?.ok).toBe(true);
      expect((second as Attempt).atMs - (first as Attempt).atMs).toBeGreaterThanOrEqual(300);
      expect((third as Attempt).atMs - (second as Attempt).atMs).toBeGreaterThanOrEqual(600);
      expect(second?.headers).toMatchObject({ 'sluice.original.topic': 'payments', 'sluice.original.partition': String(first?.partition), 'sluice.attempt': '1', 'sluice.error.name': 'Error', 'sluice.error.message': `attempt 1 of ${key} failed` });
      expect(third?.headers).toMatchObject({ 'sluice.attempt': '2', 'sluice.error.message': `attempt 2 of ${key} failed` });
      // The due time says when the attempt may run; the record keeps its partition.
      expect(Number(second?.headers['sluice.retry.due-at'])).toBeLessThanOrEqual((second as Attempt).atMs);
      expect(second?.partition).toBe(first?.partition);
    }
    expect((await sluice.admin().listTopics()).map((t) => t.name)).not.toContain('payments.dlq');
    // Retry topics are created with the source's partition count.
    expect((await sluice.admin().describeTopic('payments.retry.2')).partitions).toHaveLength(2);
  });

  it('dead-letters exactly the record that always fails, after its retries, while the rest of its partition is processed', async () => {
    // Prepare: one partition, the poison record first.
    await createTopic(stack.url, 'orders', 1);
    const keys = ['poison', ...Array.from({ length: 20 }, (_, i) => `o${i}`)];
    await produceKeys('orders', keys);
    const attempts: Attempt[] = [];

    // Act
    const consumer = await member('orders-app', 'orders', {
      retry: { delaysMs: [300, 600] },
      eachMessage: (payload) => {
        const ok = payload.message.key?.toString() !== 'poison';
        attempts.push(attemptOf(payload, ok));
        if (!ok) throw new TypeError('poison cannot be parsed');
      },
    });
    const deadLetters = async () => (await sluice.admin().listTopics()).some((t) => t.name === 'orders.dlq') && (await readAll(stack.url, 'orders.dlq', 0)).length > 0;
    await until(deadLetters, 'a dead letter', 20_000);
    const deadAtMs = Date.now();
    await consumer.stop();

    // Assess
    const dlq = await readAll(stack.url, 'orders.dlq', 0);
    expect(dlq).toHaveLength(1);
    expect(dlq[0]).toMatchObject({ key: 'poison', value: 'poison' });
    expect(dlq[0]?.headers).toMatchObject({
      'sluice.original.topic': 'orders',
      'sluice.original.partition': '0',
      'sluice.original.offset': '0',
      'sluice.attempt': '3',
      'sluice.error.name': 'TypeError',
      'sluice.error.message': 'poison cannot be parsed',
      'sluice.dead-letter.reason': 'exhausted',
    });
    expect(attempts.filter((a) => a.key === 'poison').map((a) => a.topic)).toEqual(['orders', 'orders.retry.1', 'orders.retry.2']);
    const rest = attempts.filter((a) => a.ok);
    expect(rest.map((a) => a.key)).toEqual(keys.slice(1));
    // Non-blocking: the partition moved on past the poison at once, not after its retries.
    const lastRetry = attempts.find((a) => a.topic === 'orders.retry.2') as Attempt;
    expect(Math.max(...rest.map((a) => a.atMs))).toBeLessThan(lastRetry.atMs);
    expect(deadAtMs - (attempts[0] as Attempt).atMs).toBeGreaterThanOrEqual(900);
    // The source's committed offset is past every record: the poison does not hold it back.
    expect(await sluice.admin().fetchOffsets('orders-app', { topics: ['orders'] })).toContainEqual(expect.objectContaining({ topic: 'orders', partition: 0, offset: keys.length }));
  });

  it('sends an error isRetriable refuses straight to the named dead-letter topic', async () => {
    // Prepare
    await createTopic(stack.url, 'invoices', 1);
    await produceKeys('invoices', ['bad', 'good']);
    const attempts: Attempt[] = [];

    // Act
    const consumer = await member('invoices-app', 'invoices', {
      retry: { delaysMs: [60_000], deadLetterTopic: 'invoices-dead', isRetriable: (error) => !(error instanceof RangeError) },
      eachMessage: (payload) => {
        const ok = payload.message.key?.toString() !== 'bad';
        attempts.push(attemptOf(payload, ok));
        if (!ok) throw new RangeError('amount out of range');
      },
    });
    await until(async () => (await sluice.admin().listTopics()).some((t) => t.name === 'invoices-dead') && (await readAll(stack.url, 'invoices-dead', 0)).length > 0, 'a dead letter');
    await consumer.stop();

    // Assess
    expect((await readAll(stack.url, 'invoices-dead', 0)).map((r) => [r.key, r.headers['sluice.attempt'], r.headers['sluice.dead-letter.reason']])).toEqual([['bad', '1', 'not-retriable']]);
    expect(await readAll(stack.url, 'invoices.retry.1', 0)).toEqual([]);
    expect(attempts.map((a) => [a.key, a.ok])).toEqual([['bad', false], ['good', true]]);
  });

  it.concurrent.each(['before-forward', 'after-forward'] as const)('loses nothing when the member crashes %s, before the commit', async (mode) => {
    // Prepare: the failing record sits between others, and the member commits every 50 ms.
    const topic = `crash-${mode}`;
    const group = `${topic}-app`;
    await createTopic(stack.url, topic, 1);
    const keys = Array.from({ length: 12 }, (_, i) => `c${i}`);
    await produceKeys(topic, keys);
    const handled: string[] = [];

    // Act: the member in its own process kills itself with SIGKILL around its first forward.
    const script = fileURLToPath(new URL('../support/retry-member-process.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, stack.url, group, topic, 'c5', mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => handled.push((JSON.parse(line) as { value: string }).value));
    const signal = await new Promise((resolve) => child.on('exit', (_code, s) => resolve(s)));
    const committedAtCrash = await sluice.admin().fetchOffsets(group, { topics: [topic] });
    const forwardsAtCrash = await readAll(stack.url, `${topic}.retry.1`, 0);
    // A fresh member of the group takes over once the dead one's session has expired.
    const consumer = await member(group, topic, {
      retry: { delaysMs: [200] },
      eachMessage: ({ topic: from, message }) => {
        if (from === topic && message.key?.toString() === 'c5') throw new Error('cannot handle c5');
        handled.push(message.value?.toString() ?? '');
      },
    });
    await until(() => keys.every((k) => handled.includes(k)), 'every record handled', 20_000);
    await consumer.stop();

    // Assess
    expect(signal).toBe('SIGKILL');
    // The crash came before c5's offset was committed, and it was handled in the end.
    expect(committedAtCrash.find((c) => c.partition === 0)?.offset ?? 0).toBeLessThanOrEqual(5);
    expect(new Set(handled)).toEqual(new Set(keys));
    const forwards = await readAll(stack.url, `${topic}.retry.1`, 0);
    expect(forwards.every((f) => f.key === 'c5' && f.headers['sluice.original.offset'] === '5' && f.headers['sluice.attempt'] === '1')).toBe(true);
    // The crash came before the forward landed, or right after; the new member forwarded c5 again:
    // a repeat is visible as a second copy with the same origin and attempt. (More copies only if
    // the new member itself lost its partition on a loaded machine: at least once.)
    expect(forwardsAtCrash).toHaveLength(mode === 'after-forward' ? 1 : 0);
    expect(forwards.length).toBeGreaterThanOrEqual(forwardsAtCrash.length + 1);
  });
});

describe('Function: checkRetryPolicy (through run)', () => {
  it.each([
    [{ delaysMs: [100, -1] }, 'INVALID_CONFIG', /retry.delaysMs must be an array of non-negative integers \(ms\), got \[100,-1\]/],
    [{ delaysMs: 1000 }, 'INVALID_CONFIG', /retry.delaysMs must be an array/],
    [{ delaysMs: [], deadLetterTopic: 'no spaces' }, 'INVALID_CONFIG', /retry.deadLetterTopic must be a topic name, got "no spaces"/],
    [{ delaysMs: [], isRetriable: true }, 'INVALID_CONFIG', /retry.isRetriable must be a function, got boolean/],
  ])('refuses run({ retry: %j }) before joining', async (retry, code, message) => {
    const consumer = sluice.consumer({ groupId: 'never-joins', ...TIMINGS });
    consumer.subscribe({ topic: 'payments' });
    await expect(consumer.run({ eachMessage: () => {}, retry: retry as never })).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    expect(consumer.memberId).toBeUndefined();
  });

  it('refuses retry with eachBatch, and an unknown retry option with a TypeError', async () => {
    const consumer = sluice.consumer({ groupId: 'never-joins', ...TIMINGS });
    consumer.subscribe({ topic: 'payments' });
    await expect(consumer.run({ eachBatch: () => {}, retry: { delaysMs: [] } })).rejects.toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('run({ retry }) takes eachMessage') });
    await expect(consumer.run({ eachMessage: () => {}, retry: { delaysMs: [], attempts: 3 } as never })).rejects.toThrow(TypeError);
  });
});

describe('Class: Consumer', () => {
  it('pauses a partition at a record not due yet and hands it out again when due, while other partitions carry on', async () => {
    // Prepare
    await createTopic(stack.url, 'held', 2);
    const producer = sluice.producer();
    await producer.send({ topic: 'held', messages: Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, value: `h${i}` })) });
    await producer.disconnect();
    const dueAtMs = Date.now() + 800;
    const handled: Array<{ value: string; atMs: number }> = [];
    let holds = 0;

    // Act: partition 0's first record is not due yet.
    const consumer = sluice.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 200 });
    consumer.assign([{ topic: 'held' }]);
    await consumer.run({
      eachMessage: ({ message }) => {
        const value = message.value?.toString() ?? '';
        if (value === 'h0' && Date.now() < dueAtMs) {
          holds++;
          throw new RecordNotDue(dueAtMs);
        }
        handled.push({ value, atMs: Date.now() });
      },
    });
    await until(() => handled.length === 20, 'every record handled');
    const pausedWhileHeld = consumer.paused();
    await consumer.stop();

    // Assess: each record once, partition 1 done before h0 came due, and h0 not before.
    expect(handled.map((h) => h.value).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `h${i}`).sort());
    const h0 = handled.find((h) => h.value === 'h0') as { atMs: number };
    expect(h0.atMs).toBeGreaterThanOrEqual(dueAtMs);
    const odd = handled.filter((h) => Number(h.value.slice(1)) % 2 === 1);
    expect(Math.max(...odd.map((h) => h.atMs))).toBeLessThan(dueAtMs);
    expect(holds).toBe(1);
    expect(pausedWhileHeld).toEqual([]);
  });
});
