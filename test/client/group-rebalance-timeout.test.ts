import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { Sluice } from '../../lib/client/index.ts';
import type { Ownership } from '../support/group-member.ts';
import { api, startTestStack } from '../support/stack.ts';
import { startMember, until } from './group-members.ts';
import { createTopic } from './helpers.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('Class: GroupConsumer under a rebalance timeout', () => {
  it('hands a partition on when a hung eachMessage keeps it past rebalanceTimeoutMs, reports it lost, and rejoins', async () => {
    // Prepare: a owns both partitions; then its handler hangs.
    await createTopic(stack.url, 'hung', 2);
    const timeline: Ownership[] = [];
    let hang = false;
    const stuckOn = new Set<number>();
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const a = await startMember(stack.url, {
      name: 'a',
      groupId: 'hung-group',
      topics: ['hung'],
      timeline,
      handled: [],
      // A session well above the rebalance timeout: only the rebalance timeout can fence a here.
      // Two handler slots, so both partitions' handlers hang: whichever partition is revoked
      // is held by a hung handler. (With one slot, a partition whose record waits for the slot
      // has nothing running and is released at once, as it should be.)
      options: { rebalanceTimeoutMs: 1000, sessionTimeoutMs: 8000, heartbeatIntervalMs: 200, partitionsConsumedConcurrently: 2 },
      onMessage: async (_message, partition) => {
        if (!hang) return;
        stuckOn.add(partition);
        await released;
      },
    });
    await until(() => a.owned().length === 2, 'a to own both partitions');
    hang = true;
    const hangFromMs = Date.now();
    await new Sluice({ url: stack.url }).producer().send({ topic: 'hung', messages: [0, 1].map((partition) => ({ partition, value: `v${partition}` })) });
    // Only once both handlers hang does a revocation have to wait for one (under load the
    // records may reach a after b joined, and a partition with nothing running is released at once).
    await until(() => stuckOn.size === 2, "a's handlers to hang on both partitions");

    // Act: b joins; a is told to give one partition up but cannot stop its handler.
    const b = await startMember(stack.url, { name: 'b', groupId: 'hung-group', topics: ['hung'], timeline, handled: [], options: { sessionTimeoutMs: 8000, heartbeatIntervalMs: 200 } });
    const joinedAt = Date.now();
    await until(() => b.owned().length === 2, 'b to own both partitions once a is fenced', 20_000);
    const handedOverAfterMs = Date.now() - joinedAt;
    const describedWhileHung = await api(stack.url, 'GET', '/v1/groups/hung-group');
    await until(() => a.consumer.memberEpoch === 0, "a's heartbeat to learn it was fenced");
    release();
    await until(() => a.owned().length === 1 && b.owned().length === 1, 'a to rejoin and take a share again', 20_000);

    // Assess
    expect(handedOverAfterMs).toBeGreaterThanOrEqual(900);
    expect(describedWhileHung.body.members.map((m: { memberId: string }) => m.memberId)).toHaveLength(1);
    const since = a.events.filter((e) => e.atMs >= hangFromMs);
    expect(since.filter((e) => e.kind === 'revoked')).toEqual([]);
    expect(since.filter((e) => e.kind === 'lost').flatMap((e) => e.partitions).sort()).toEqual(['hung:0', 'hung:1']);
    await a.consumer.stop();
    await b.consumer.stop();
  });
});
