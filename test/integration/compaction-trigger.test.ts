import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { COMPACTION } from '../../lib/config/defaults.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
beforeAll(async () => {
  // No timer: only produce's asynchronous Lambda invocation can run compaction here.
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

async function lastCompactedAt(topic: string): Promise<number | null> {
  return (await api(stack.url, 'GET', `/v1/topics/${topic}`)).body.partitions[0].lastCompactedAt;
}

describe('the asynchronous compaction trigger', () => {
  it('invokes the compact function (Lambda Invoke, type Event) when a partition crosses the segment threshold', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'triggered', partitions: 1 });
    for (let i = 0; i < COMPACTION.triggerSegments - 1; i++) await api(stack.url, 'POST', '/v1/topics/triggered/records', { records: [{ value: `v${i}` }] });
    await new Promise((r) => setTimeout(r, 300));
    expect(await lastCompactedAt('triggered')).toBeNull();
    await api(stack.url, 'POST', '/v1/topics/triggered/records', { records: [{ value: 'the one that crosses' }] });
    const deadline = Date.now() + 15_000;
    while ((await lastCompactedAt('triggered')) === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await lastCompactedAt('triggered')).not.toBeNull();
    // The run merged the small segments, and every record is still there.
    const described = (await api(stack.url, 'GET', '/v1/topics/triggered')).body.partitions[0];
    expect(described.segments).toBeLessThan(COMPACTION.triggerSegments);
    const fetched = await api(stack.url, 'GET', '/v1/topics/triggered/partitions/0/records?offset=0&maxRecords=1000');
    expect(fetched.body.records).toHaveLength(COMPACTION.triggerSegments);
  });
});
