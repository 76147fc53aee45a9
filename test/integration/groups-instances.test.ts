import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { startServer, type LocalServer } from '../../local/server.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
let second: LocalServer;
beforeAll(async () => {
  stack = await startTestStack();
  // A second function instance: fresh module instances (its own topic cache), the same table.
  vi.resetModules();
  const [admin, produce, fetch, groups] = await Promise.all([
    import('../../functions/admin/handler.ts'),
    import('../../functions/produce/handler.ts'),
    import('../../functions/fetch/handler.ts'),
    import('../../functions/groups/handler.ts'),
  ]);
  second = await startServer({ admin: admin.handler, produce: produce.handler, fetch: fetch.handler, groups: groups.handler }, 0);
});
afterAll(async () => {
  await second?.close();
  await stack?.close();
});

describe('group coordination across function instances', () => {
  it('does not flap the target between two instances whose topic caches disagree after a partition-count change', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'grow', partitions: 2 });
    const members = [
      { id: 'a', url: stack.url, epoch: 0, owned: [] as number[] },
      { id: 'b', url: second.url, epoch: 0, owned: [] as number[] },
    ];
    const beat = async (m: (typeof members)[number]) => {
      const res = await api(m.url, 'POST', '/v1/groups/flap/heartbeat', { memberId: m.id, memberEpoch: m.epoch, subscribedTopics: ['grow'], ownedPartitions: [{ topic: 'grow', partitions: m.owned }] });
      expect(res.status).toBe(200);
      m.epoch = res.body.memberEpoch;
      m.owned = res.body.assignment.flatMap((t: { partitions: number[] }) => t.partitions);
    };
    // Only the second instance has seen the topic (2 partitions) when it grows.
    await beat(members[1]!);
    expect((await api(stack.url, 'PATCH', '/v1/topics/grow', { partitions: 4 })).status).toBe(200);
    await beat(members[0]!); // the first instance reads the topic afresh: 4 partitions
    const before = (await api(stack.url, 'GET', '/v1/groups/flap')).body.groupEpoch;
    for (let i = 0; i < 10; i++) await beat(members[i % 2]!);
    const after = (await api(stack.url, 'GET', '/v1/groups/flap')).body;
    // At most the one change both instances agree on, however the heartbeats alternate.
    expect(after.groupEpoch - before).toBeLessThanOrEqual(1);
    expect(after.partitions).toHaveLength(4);
    expect([...members[0]!.owned, ...members[1]!.owned].sort()).toEqual([0, 1, 2, 3]);
  });

  it('does not flap the target between two instances whose topic listings disagree after a matching topic is created (regex subscription)', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'flaprx-a', partitions: 2 });
    const members = [
      { id: 'a', url: stack.url, epoch: 0, owned: [] as string[] },
      { id: 'b', url: second.url, epoch: 0, owned: [] as string[] },
    ];
    const beat = async (m: (typeof members)[number]) => {
      const owned = [...new Set(m.owned.map((k) => k.split(':')[0] as string))].map((topic) => ({ topic, partitions: m.owned.filter((k) => k.startsWith(`${topic}:`)).map((k) => Number(k.split(':')[1])) }));
      const res = await api(m.url, 'POST', '/v1/groups/flaprx/heartbeat', m.epoch === 0 ? { memberId: m.id, memberEpoch: 0, subscribedTopics: [], subscribedTopicRegex: 'flaprx-.*' } : { memberId: m.id, memberEpoch: m.epoch, ownedPartitions: owned });
      expect(res.status).toBe(200);
      m.epoch = res.body.memberEpoch;
      m.owned = res.body.assignment.flatMap((t: { topic: string; partitions: number[] }) => t.partitions.map((p) => `${t.topic}:${p}`));
    };
    // The first instance lists the topics (one match) before the second topic exists.
    await beat(members[0]!);
    await api(stack.url, 'POST', '/v1/topics', { name: 'flaprx-b', partitions: 2 });
    await beat(members[1]!); // the second instance lists afresh: two matches
    const before = (await api(stack.url, 'GET', '/v1/groups/flaprx')).body.groupEpoch;
    for (let i = 0; i < 12; i++) await beat(members[i % 2]!);
    const after = (await api(stack.url, 'GET', '/v1/groups/flaprx')).body;
    expect(after.groupEpoch - before).toBeLessThanOrEqual(1);
    expect([...members[0]!.owned, ...members[1]!.owned].sort()).toEqual(['flaprx-a:0', 'flaprx-a:1', 'flaprx-b:0', 'flaprx-b:1']);
  });
});
