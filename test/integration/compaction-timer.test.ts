import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
const savedDiscovery = process.env.SLUICE_DISCOVERY_INTERVAL_MS;
beforeAll(async () => {
  // Every pass looks for newly written partitions (on AWS: once an hour).
  process.env.SLUICE_DISCOVERY_INTERVAL_MS = '0';
  stack = await startTestStack({ compactIntervalMs: 200 });
});
afterAll(async () => {
  if (savedDiscovery === undefined) delete process.env.SLUICE_DISCOVERY_INTERVAL_MS;
  else process.env.SLUICE_DISCOVERY_INTERVAL_MS = savedDiscovery;
  await stack?.close();
});

describe('the local schedule', () => {
  it('runs the compact function on its interval, as the EventBridge rule does on AWS', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'scheduled', partitions: 2 });
    await api(stack.url, 'POST', '/v1/topics/scheduled/records', { records: [{ value: 'a', partition: 1 }] });
    const deadline = Date.now() + 20_000;
    let partitions: Array<{ lastCompactedAt: number | null }> = [];
    while (Date.now() < deadline) {
      partitions = (await api(stack.url, 'GET', '/v1/topics/scheduled')).body.partitions;
      if (partitions[1]?.lastCompactedAt !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(partitions[1]?.lastCompactedAt).toEqual(expect.any(Number));
    // A partition never written to has nothing to compact.
    expect(partitions[0]?.lastCompactedAt).toBeNull();
  });
});
