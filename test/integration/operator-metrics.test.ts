import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { readConsumerLags } from '../../lib/observability/consumer-lag.ts';
import { drainTallied, tally } from '../../lib/observability/metrics.ts';
import { heartbeat } from '../../lib/groups/heartbeat.ts';
import { tpKey } from '../../lib/groups/assignors.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

async function ok(method: string, path: string, body?: unknown): Promise<void> {
  const res = await api(stack.url, method, path, body);
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
}

describe('ConsumerLagRecords (the scheduled pass)', () => {
  it("is each group's largest partition lag per topic, not the sum, and leaves out topics a group never committed on", async () => {
    await ok('POST', '/v1/topics', { name: 'lagged', partitions: 2 });
    await ok('POST', '/v1/topics', { name: 'untouched', partitions: 1 });
    await ok('POST', '/v1/topics/lagged/records', { records: Array.from({ length: 10 }, (_, i) => ({ value: `a${i}`, partition: 0 })) });
    await ok('POST', '/v1/topics/lagged/records', { records: Array.from({ length: 3 }, (_, i) => ({ value: `b${i}`, partition: 1 })) });
    await ok('POST', '/v1/topics/untouched/records', { records: [{ value: 'x' }] });
    // Offset 2 on both partitions: lags 8 and 1.
    await ok('POST', '/v1/groups/slow/offsets/reset', { topic: 'lagged', offset: 2 });
    await ok('POST', '/v1/groups/current/offsets/reset', { topic: 'lagged', to: 'latest' });

    const lags = await readConsumerLags(stack.storage);
    expect(lags.sort((a, b) => a.group.localeCompare(b.group))).toEqual([
      { group: 'current', topic: 'lagged', lagRecords: 0 },
      { group: 'slow', topic: 'lagged', lagRecords: 8 },
    ]);
  });
});

describe('Rebalances', () => {
  it("counts a heartbeat that raised the group epoch (a join), not a steady one, under the group's name", async () => {
    await ok('POST', '/v1/topics', { name: 'rebalanced', partitions: 2 });
    drainTallied();
    const joined = await heartbeat(stack.storage, 'reb', { memberId: 'a', memberEpoch: 0, subscribedTopics: ['rebalanced'] });
    expect(drainTallied()).toEqual([{ name: 'Rebalances', value: 1, group: 'reb' }]);
    const owned = joined.assignment.flatMap(({ topic, partitions }) => partitions.map((partition) => tpKey(topic, partition)));
    await heartbeat(stack.storage, 'reb', { memberId: 'a', memberEpoch: joined.memberEpoch, ownedPartitions: owned });
    expect(drainTallied()).toEqual([]);
    await heartbeat(stack.storage, 'reb', { memberId: 'b', memberEpoch: 0, subscribedTopics: ['rebalanced'] });
    expect(drainTallied()).toEqual([{ name: 'Rebalances', value: 1, group: 'reb' }]);
  });

  it('sums tallied events per name and dimensions until drained', () => {
    drainTallied();
    tally('AppendConflicts', { topic: 't' });
    tally('AppendConflicts', { topic: 't' }, 2);
    tally('AppendConflicts', { topic: 'u' });
    expect(drainTallied()).toEqual([
      { name: 'AppendConflicts', value: 3, topic: 't' },
      { name: 'AppendConflicts', value: 1, topic: 'u' },
    ]);
    expect(drainTallied()).toEqual([]);
  });
});
