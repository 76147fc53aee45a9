import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { MAX_SEGMENTS_PER_MERGE } from '../../lib/retention/plan.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
beforeAll(async () => {
  // No timer: only produce's asynchronous Lambda invocation can run compaction here.
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

async function partition0(topic: string): Promise<{ lastCompactedAt: number | null; segments: number; logStartOffset: number; bytes: number }> {
  return (await api(stack.url, 'GET', `/v1/topics/${topic}`)).body.partitions[0];
}

async function produce(topic: string, value: string): Promise<void> {
  const res = await api(stack.url, 'POST', `/v1/topics/${topic}/records`, { records: [{ value, partition: 0 }] });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

/** Waits for the asynchronous visit to finish (it stamps the head), or gives up after 15 s. */
async function visited(topic: string): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  while ((await partition0(topic)).lastCompactedAt === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return (await partition0(topic)).lastCompactedAt !== null;
}

/** Whether a visit came within a moment (none is expected: the trigger would have queued it before produce answered). */
async function visitedSoon(topic: string): Promise<boolean> {
  await new Promise((r) => setTimeout(r, 300));
  return (await partition0(topic)).lastCompactedAt !== null;
}

describe('the asynchronous compaction trigger', () => {
  it('invokes the compact function (Lambda Invoke, type Event) once 49 small segments make a full merge run, not before', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'triggered', partitions: 1 });
    for (let i = 0; i < MAX_SEGMENTS_PER_MERGE - 1; i++) await produce('triggered', `v${i}`);
    expect(await visitedSoon('triggered')).toBe(false);
    await produce('triggered', 'the one that completes the run');
    expect(await visited('triggered')).toBe(true);
    // The run merged the small segments, and every record is still there.
    expect((await partition0('triggered')).segments).toBeLessThan(MAX_SEGMENTS_PER_MERGE);
    const fetched = await api(stack.url, 'GET', '/v1/topics/triggered/partitions/0/records?offset=0&maxRecords=1000');
    expect(fetched.body.records).toHaveLength(MAX_SEGMENTS_PER_MERGE);
  });

  it('invokes it when a partition goes a step (1 MiB here) over retention.bytes, and the visit brings it back to the limit', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'capped', partitions: 1, configs: { 'retention.bytes': 1024 * 1024, 'retention.ms': -1 } });
    const value = 'x'.repeat(400_000);
    // Five 400 kB segments: over the limit, but by less than the step.
    for (let i = 0; i < 5; i++) await produce('capped', value);
    expect(await visitedSoon('capped')).toBe(false);
    await produce('capped', value);
    expect(await visited('capped')).toBe(true);
    const after = await partition0('capped');
    expect(after.logStartOffset).toBe(3);
    expect(after.bytes).toBeGreaterThanOrEqual(1024 * 1024);
    expect(after.bytes).toBeLessThan(1024 * 1024 + 400_100);
  });
});
