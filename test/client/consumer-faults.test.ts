/**
 * Consumers under faults, through the seeded fault proxy: random faults on every request,
 * an outage of every route far longer than the old retry budget, and a full server restart
 * (the stack closed and started again on the same table and bucket). Records are produced
 * directly to the stack meanwhile. Timings are short but the outage is 8 s against a retry
 * budget of well under 2 s (2 retries, backoff capped at 300 ms), which is what made a
 * consumer crash before.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type LocalStack } from '../../local/stack.ts';
import { Sluice, type RetryEvent } from '../../lib/client/index.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { emulatorEndpoints } from '../support/stack.ts';
import { until } from './group-members.ts';
import { createTopic } from './helpers.ts';

const suffix = randomBytes(4).toString('hex');
const names = { tableName: `sluice-test-${suffix}`, bucketName: `sluice-test-${suffix}` };
let stack: LocalStack;
const proxies: FaultProxy[] = [];
const start = () => startStack({ emulators: emulatorEndpoints(), ...names, port: 0 });

beforeAll(async () => {
  stack = await start();
});
afterAll(async () => {
  for (const proxy of proxies) await proxy.close();
  await stack?.close();
});

/** Short retries: the old code gave up after these; an outage lasts many times longer. */
const RETRY = { retries: 2, retryBackoffMs: 20, retryBackoffMaxMs: 300, requestTimeoutMs: 3000 } as const;
const OUTAGE_MS = 8000;
const RATES = { drop: 0.04, loseAnswer: 0.04, status500: 0.04, status503: 0.04, status429: 0.02, delay: 0.1 } as const;

async function proxied(seed: number): Promise<FaultProxy> {
  const proxy = await startFaultProxy(stack.url, { seed, rates: RATES, maxDelayMs: 150, retryAfterSeconds: 0 });
  proxies.push(proxy);
  return proxy;
}

/** Produces `count` records per partition, directly (not through the proxy). */
async function produce(topic: string, partitions: number, count: number, tag: string): Promise<void> {
  const producer = new Sluice({ url: stack.url }).producer();
  await producer.send({ topic, messages: Array.from({ length: partitions }, (_, partition) => Array.from({ length: count }, (_, i) => ({ partition, value: `${tag}-${i}` }))).flat() });
  await producer.disconnect();
}

/** Stops every route for OUTAGE_MS (connections close unanswered) while `during` runs, then restarts the server. */
async function outageThenRestart(proxy: FaultProxy, during: () => Promise<void>): Promise<void> {
  const lift = proxy.rule({ match: () => true, action: { kind: 'drop' } });
  const outage = new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
  await during();
  await outage;
  lift();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  // A full restart: the server goes away (the proxy's forwards are refused), then comes back on a new port.
  await stack.close();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  stack = await start();
  proxy.retarget(stack.url);
}

describe('Consumer under faults', () => {
  it('rides out random faults, an 8 s outage and a server restart: every record once, in order, each failed attempt reported', async () => {
    // Prepare
    await createTopic(stack.url, 'outage', 2);
    await produce('outage', 2, 100, 'before');
    const proxy = await proxied(11);
    const consumer = new Sluice({ url: proxy.url }).consumer({ ...RETRY, maxWaitMs: 300 });
    consumer.assign([{ topic: 'outage', fromBeginning: true }]);
    const seen: Array<Array<{ offset: number; value: string }>> = [[], []];
    const retries: RetryEvent[] = [];
    consumer.on('retry', (event) => retries.push(event));
    let crashed: unknown;
    consumer.on('crash', ({ error }) => (crashed = error));
    await consumer.run({ eachMessage: ({ partition, message }) => void seen[partition]?.push({ offset: message.offset, value: message.value?.toString() ?? '' }) });
    await until(() => seen.every((s) => s.length === 100), 'the first 200 records', 30_000);

    // Act
    let retriesAtOutage = 0;
    await outageThenRestart(proxy, async () => {
      retriesAtOutage = retries.length;
      await produce('outage', 2, 20, 'during');
    });
    await produce('outage', 2, 20, 'after');
    await until(() => seen.every((s) => s.length === 140), 'every record after the restart', 30_000);
    await consumer.stop({ timeoutMs: 10_000 });

    // Assess
    expect(crashed).toBeUndefined();
    for (const partition of seen) {
      expect(partition.map((r) => r.offset)).toEqual(Array.from({ length: 140 }, (_, i) => i));
      expect(partition.map((r) => r.value)).toEqual([...Array.from({ length: 100 }, (_, i) => `before-${i}`), ...Array.from({ length: 20 }, (_, i) => `during-${i}`), ...Array.from({ length: 20 }, (_, i) => `after-${i}`)]);
    }
    // Attempts kept failing all through the outage (more than the old budget of 3 per request), and each was reported.
    expect(retries.length - retriesAtOutage).toBeGreaterThan(2 * (RETRY.retries + 1));
    expect(retries.every((r) => r.error.retriable || Number(r.error.details.httpStatus) >= 500)).toBe(true);
    expect(proxy.log.some((r) => r.fault !== 'pass' && r.fault !== 'rule')).toBe(true);
  });
});

describe('GroupConsumer under faults', () => {
  it('rides out random faults, an 8 s outage (twice its session timeout) and a server restart: loses and rejoins, skips nothing', async () => {
    // Prepare
    await createTopic(stack.url, 'group-outage', 2);
    await produce('group-outage', 2, 50, 'before');
    const proxy = await proxied(23);
    const consumer = new Sluice({ url: proxy.url }).consumer({ groupId: 'outage-group', ...RETRY, sessionTimeoutMs: 3000, heartbeatIntervalMs: 300, autoCommitIntervalMs: 200, maxWaitMs: 300, autoOffsetReset: 'earliest' });
    consumer.subscribe({ topic: 'group-outage' });
    const values = new Set<string>();
    let handled = 0;
    const events: string[] = [];
    let crashed: unknown;
    consumer.on('crash', ({ error }) => (crashed = error));
    let retried = 0;
    consumer.on('retry', () => void retried++);
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        handled++;
        values.add(`${partition}/${message.value?.toString() ?? ''}`);
      },
      onPartitionsAssigned: (partitions) => void events.push(`assigned ${partitions.length}`),
      onPartitionsLost: (partitions) => void events.push(`lost ${partitions.length}`),
    });
    await until(() => values.size === 100, 'the first 100 records', 30_000);

    // Act
    await outageThenRestart(proxy, () => produce('group-outage', 2, 20, 'during'));
    await produce('group-outage', 2, 20, 'after');
    await until(() => values.size === 180, 'every record after the restart', 40_000);
    await consumer.stop({ timeoutMs: 10_000 });

    // Assess
    expect(crashed).toBeUndefined();
    const expected = ['before', 'during', 'after'].flatMap((tag) => [0, 1].flatMap((p) => Array.from({ length: tag === 'before' ? 50 : 20 }, (_, i) => `${p}/${tag}-${i}`)));
    expect([...values].sort()).toEqual(expected.sort());
    // At least once: repeats only from the last commit before the loss.
    expect(handled).toBeGreaterThanOrEqual(180);
    expect(events).toContain('lost 2');
    expect(events.filter((e) => e === 'assigned 2').length).toBeGreaterThanOrEqual(2);
    expect(retried).toBeGreaterThan(0);
  });

  it('stop() ends a join that hangs, and stop() / disconnect() give up after timeoutMs when the API hangs', async () => {
    await createTopic(stack.url, 'hung', 1);
    const proxy = await startFaultProxy(stack.url, { seed: 5 });
    proxies.push(proxy);
    const sluice = new Sluice({ url: proxy.url });

    // A join whose heartbeat never answers: stop() ends it and run() resolves.
    const lift = proxy.rule({ match: (r) => r.path.endsWith('/heartbeat'), action: { kind: 'hang' } });
    const joining = sluice.consumer({ groupId: 'hung-group', requestTimeoutMs: 60_000 });
    joining.subscribe({ topic: 'hung' });
    const running = joining.run({ eachMessage: () => {} });
    await new Promise((resolve) => setTimeout(resolve, 300));
    let startedMs = performance.now();
    await joining.stop();
    await running;
    expect(performance.now() - startedMs).toBeLessThan(2000);
    lift();

    // A member whose commits and leave hang: stop({ timeoutMs }) returns after about timeoutMs.
    const member = sluice.consumer({ groupId: 'hung-group-2', requestTimeoutMs: 60_000, sessionTimeoutMs: 3000, heartbeatIntervalMs: 300, autoOffsetReset: 'earliest', maxWaitMs: 200 });
    member.subscribe({ topic: 'hung' });
    await produce('hung', 1, 3, 'h');
    let handled = 0;
    await member.run({ eachMessage: () => void handled++ });
    await until(() => handled === 3, 'the member to handle 3 records', 20_000);
    const liftAll = proxy.rule({ match: () => true, action: { kind: 'hang' } });
    startedMs = performance.now();
    await member.stop({ timeoutMs: 1000 });
    expect(performance.now() - startedMs).toBeLessThan(3000);

    // A producer whose request hangs: disconnect({ timeoutMs }) fails what was not acknowledged.
    const producer = sluice.producer({ requestTimeoutMs: 60_000 });
    const sent = producer.send({ topic: 'hung', messages: [{ value: 'stuck' }] }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 200));
    startedMs = performance.now();
    await producer.disconnect({ timeoutMs: 500 });
    expect(performance.now() - startedMs).toBeLessThan(2500);
    expect(await sent).toMatchObject({ code: 'REQUEST_TIMED_OUT' });
    liftAll();
  });
});
