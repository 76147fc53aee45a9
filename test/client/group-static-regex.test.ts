import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { Sluice } from '../../lib/client/index.ts';
import type { Ownership } from '../support/group-member.ts';
import { api, startTestStack } from '../support/stack.ts';
import { startMember, until, type Handled } from './group-members.ts';
import { createTopic } from './helpers.ts';

let stack: LocalStack;
let sluice: Sluice;
beforeAll(async () => {
  stack = await startTestStack();
  sluice = new Sluice({ url: stack.url });
});
afterAll(async () => {
  await stack?.close();
});

async function produce(topic: string, partitions: number, perPartition: number, tag: string): Promise<void> {
  const producer = sluice.producer();
  await producer.send({ topic, messages: Array.from({ length: partitions }, (_, p) => Array.from({ length: perPartition }, (_, i) => ({ partition: p, value: `${tag}-${p}-${i}` }))).flat() });
  await producer.disconnect();
}

describe('Class: GroupConsumer (static membership and RegExp subscriptions)', () => {
  it('gets its partitions back when restarted under the same instanceId, and the other member never loses or gains one', async () => {
    // Prepare
    await createTopic(stack.url, 'static-c', 4);
    const timeline: Ownership[] = [];
    const handled: Handled[] = [];
    const member = (name: string, instanceId: string) => startMember(stack.url, { name, groupId: 'static-c-g', topics: ['static-c'], timeline, handled, options: { instanceId, sessionTimeoutMs: 6000, heartbeatIntervalMs: 200 } });
    const a = await member('a', 'web-a');
    const b = await member('b', 'web-b');
    await until(() => a.owned().length === 2 && b.owned().length === 2, 'two partitions each');
    const aOwned = a.owned();
    const bEventsBefore = b.events.length;
    await produce('static-c', 4, 10, 'first');
    await until(() => handled.length >= 40, 'the first records handled');

    // Act: a rolling restart of a.
    await a.consumer.stop();
    expect((await sluice.admin().describeGroup('static-c-g')).members.map((m) => m.memberEpoch).sort()).toContain(-2);
    const a2 = await member('a2', 'web-a');
    await until(() => a2.owned().length === 2, 'the restarted instance to own its partitions');
    await produce('static-c', 4, 10, 'second');
    await until(() => handled.length >= 80, 'the second records handled');

    // Assess
    expect(a2.owned()).toEqual(aOwned);
    expect(b.events.slice(bEventsBefore)).toEqual([]);
    expect(b.owned().every((p) => !aOwned.includes(p))).toBe(true);
    // The restarted instance resumed from a's commits: nothing handled twice.
    expect(new Set(handled.map((h) => h.value)).size).toBe(handled.length);
    await Promise.all([a2.consumer.stop(), b.consumer.stop()]);
  });

  it('consumes a topic created after run() that its RegExp subscription matches, without rejoining', async () => {
    await createTopic(stack.url, 'crx-first', 1);
    await createTopic(stack.url, 'other-topic', 1);
    const handled: Handled[] = [];
    const m = await startMember(stack.url, { name: 'rx', groupId: 'crx-g', topics: [/^crx-/], timeline: [], handled, options: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 300 } });
    await until(() => m.owned().length === 1, 'the matching topic assigned');
    await produce('crx-first', 1, 3, 'first');
    await produce('other-topic', 1, 3, 'other');
    await createTopic(stack.url, 'crx-later', 2);
    await until(() => m.owned().length === 3, 'the later topic assigned', 20_000);
    await produce('crx-later', 2, 3, 'later');
    await until(() => handled.length >= 9, 'the later topic consumed', 20_000);
    expect(m.owned()).toEqual(['crx-first:0', 'crx-later:0', 'crx-later:1']);
    expect(handled.map((h) => h.topic).filter((t) => t === 'other-topic')).toEqual([]);
    expect(m.events.filter((e) => e.kind === 'lost')).toEqual([]);
    expect((await api(stack.url, 'GET', '/v1/groups/crx-g')).body.members[0].subscribedTopicRegex).toBe('.*(?:^crx-).*');
    await m.consumer.stop();
  });
});
