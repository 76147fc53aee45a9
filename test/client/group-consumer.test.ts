import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { Sluice } from '../../lib/client/index.ts';
import { overlaps, type Ownership } from '../support/group-member.ts';
import { startTestStack } from '../support/stack.ts';
import { FAST, handledOutsideOwnership, startMember, until, type Handled, type TestMember } from './group-members.ts';
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

/** Produces `perPartition` records to each partition, values `<tag>-<partition>-<i>`. */
async function produce(topic: string, partitions: number, perPartition: number, tag: string): Promise<string[]> {
  const producer = sluice.producer();
  const messages = Array.from({ length: partitions }, (_, p) => Array.from({ length: perPartition }, (_, i) => ({ partition: p, value: `${tag}-${p}-${i}` }))).flat();
  await producer.send({ topic, messages });
  await producer.disconnect();
  return messages.map((m) => m.value);
}

const values = (handled: readonly Handled[]) => new Set(handled.map((h) => h.value));
const counts = (members: readonly TestMember[]) => members.map((m) => m.owned().length).sort();
const allOwned = (members: readonly TestMember[]) => members.flatMap((m) => m.owned()).sort();

describe('Class: GroupConsumer', () => {
  it('gives each of 6 partitions to exactly one of 3 consumers, lets a 4th take a share, and never has two owners at once', async () => {
    // Prepare
    await createTopic(stack.url, 'orders', 6);
    const timeline: Ownership[] = [];
    const handled: Handled[] = [];
    const expected = await produce('orders', 6, 50, 'first');
    const member = (name: string) => startMember(stack.url, { name, groupId: 'orders-group', topics: ['orders'], timeline, handled });

    // Act
    const members = [await member('a'), await member('b'), await member('c')];
    await until(() => counts(members).join() === '2,2,2' && values(handled).size === expected.length, 'three members with two partitions each, all records handled');
    const d = await member('d');
    members.push(d);
    expected.push(...(await produce('orders', 6, 50, 'second')));
    await until(() => counts(members).join() === '1,1,2,2' && values(handled).size === expected.length, 'the fourth member to take a share');
    const describedWhileRunning = await sluice.admin().describeGroup('orders-group');
    for (const m of members) await m.consumer.stop();

    // Assess
    expect(allOwned(members)).toEqual([]);
    expect(new Set(timeline.filter((o) => o.member === 'd').map((o) => o.partition)).size).toBeGreaterThanOrEqual(1);
    expect(overlaps(timeline)).toEqual([]);
    expect(handledOutsideOwnership(handled, timeline)).toEqual([]);
    expect([...values(handled)].sort()).toEqual([...expected].sort());
    // Every handover committed before the release: no record was handled twice.
    expect(handled).toHaveLength(expected.length);
    expect(describedWhileRunning).toMatchObject({ state: 'Stable', sessionTimeoutMs: FAST.sessionTimeoutMs, heartbeatIntervalMs: FAST.heartbeatIntervalMs });
    expect(describedWhileRunning.members).toHaveLength(4);
    // Stop commits what was handled and leaves at once, without waiting for the session timeout.
    const described = await sluice.admin().describeGroup('orders-group');
    expect(described.state).toBe('Empty');
    expect(described.partitions.map((p) => [p.partition, p.committedOffset, p.lag])).toEqual(Array.from({ length: 6 }, (_, p) => [p, 100, 0]));
  });

  it("moves a killed consumer's partitions once its session times out, after it has stopped processing them", async () => {
    // Prepare
    await createTopic(stack.url, 'events', 6);
    const timeline: Ownership[] = [];
    const handled: Handled[] = [];
    const member = (name: string) => startMember(stack.url, { name, groupId: 'events-group', topics: ['events'], timeline, handled });
    const members = [await member('a'), await member('b'), await member('c')];
    await until(() => counts(members).join() === '2,2,2', 'three members with two partitions each');
    const [victim, ...survivors] = members as [TestMember, ...TestMember[]];
    const lostPartitions = victim.owned();
    const producing = setInterval(() => void produce('events', 6, 1, `t${Date.now()}`).catch(() => {}), 100);

    // Act
    try {
      victim.cut();
      await until(() => allOwned(survivors).length === 6, "the survivors to take the victim's partitions", 10_000);
    } finally {
      clearInterval(producing);
    }

    // Assess
    const cutAtMs = victim.cutAtMs as number;
    // The victim's own view: its session ran out, its handlers stopped (the callback may follow a revocation still retrying).
    await until(() => victim.events.some((e) => e.kind === 'lost'), 'the victim to report its partitions lost', 15_000);
    const lost = victim.events.find((e) => e.kind === 'lost');
    expect(lost?.partitions.sort()).toEqual(lostPartitions);
    const takenOver = timeline.filter((o) => o.member !== victim.name && lostPartitions.includes(o.partition));
    expect(takenOver.map((o) => o.partition).sort()).toEqual(lostPartitions);
    for (const o of takenOver) {
      // Not before the session timeout (counted from the victim's last answered heartbeat, at most one interval before the cut).
      expect(o.fromMs - cutAtMs).toBeGreaterThanOrEqual(FAST.sessionTimeoutMs - 2 * FAST.heartbeatIntervalMs);
      expect(o.fromMs).toBeGreaterThanOrEqual(lost?.atMs as number);
    }
    expect(overlaps(timeline)).toEqual([]);
    expect(handledOutsideOwnership(handled, timeline)).toEqual([]);
    for (const m of members) await m.consumer.stop();
  });

  it("lets a killed consumer's replacement resume from the last commit: every record handled at least once, none skipped", async () => {
    // Prepare
    await createTopic(stack.url, 'jobs', 3);
    const expected = await produce('jobs', 3, 200, 'job');
    const timeline: Ownership[] = [];
    const handled: Handled[] = [];
    let first: TestMember | undefined;
    first = await startMember(stack.url, {
      name: 'first',
      groupId: 'workers',
      topics: ['jobs'],
      timeline,
      handled,
      options: { maxBytesPerPartition: 1024 },
      onMessage: async () => {
        await new Promise((resolve) => setTimeout(resolve, 2));
        if (handled.length === 250) first?.cut();
      },
    });

    // Act
    await until(() => first?.cutAtMs !== undefined, 'the first consumer to handle 250 records');
    const committedAtKill = new Map((await sluice.admin().fetchOffsets('workers')).map((o) => [o.partition, o.offset]));
    const second = await startMember(stack.url, { name: 'second', groupId: 'workers', topics: ['jobs'], timeline, handled });
    await until(() => values(handled).size === expected.length, 'every record to be handled');

    // Assess
    expect([...values(handled)].sort()).toEqual([...expected].sort());
    for (let p = 0; p < 3; p++) {
      // (A partition the first consumer finished and committed whole has nothing left for the second.)
      const resumedAt = handled.find((h) => h.member === 'second' && h.partition === p)?.offset ?? 200;
      expect(resumedAt, `partition ${p}`).toBe(committedAtKill.get(p) ?? 0);
    }
    // At least once: what the first handled after its last commit came again.
    expect(handled.length).toBeGreaterThanOrEqual(expected.length);
    expect(overlaps(timeline)).toEqual([]);
    await first.consumer.stop();
    await second.consumer.stop();
  });

  it('gives each of two groups on one topic every record', async () => {
    await createTopic(stack.url, 'shared', 4);
    const expected = await produce('shared', 4, 25, 'shared');
    const timeline: Ownership[] = [];
    const inX: Handled[] = [];
    const inY: Handled[] = [];
    const members = [
      await startMember(stack.url, { name: 'x1', groupId: 'group-x', topics: ['shared'], timeline, handled: inX }),
      await startMember(stack.url, { name: 'x2', groupId: 'group-x', topics: ['shared'], timeline, handled: inX }),
      await startMember(stack.url, { name: 'y1', groupId: 'group-y', topics: ['shared'], timeline, handled: inY }),
    ];
    await until(() => values(inX).size === expected.length && values(inY).size === expected.length, 'both groups to handle every record');
    for (const m of members) await m.consumer.stop();
    expect([...values(inX)].sort()).toEqual([...expected].sort());
    expect([...values(inY)].sort()).toEqual([...expected].sort());
  });

  it('drops its partitions as lost when fenced, and rejoins with epoch 0', async () => {
    await createTopic(stack.url, 'fenced', 2);
    const timeline: Ownership[] = [];
    const m = await startMember(stack.url, { name: 'm', groupId: 'fenced-group', topics: ['fenced'], timeline, handled: [] });
    await until(() => m.owned().length === 2, 'the member to own both partitions');
    m.fault('/heartbeat', { status: 409, body: { error: 'FENCED_MEMBER_EPOCH', message: 'injected', retriable: false } });
    await until(() => m.events.filter((e) => e.kind === 'assigned').length === 2, 'the member to rejoin and be assigned again');
    expect(m.events.map((e) => [e.kind, e.partitions])).toEqual([
      ['assigned', ['fenced:0', 'fenced:1']],
      ['lost', ['fenced:0', 'fenced:1']],
      ['assigned', ['fenced:0', 'fenced:1']],
    ]);
    expect(m.consumer.memberEpoch).toBeGreaterThan(0);
    await m.consumer.stop();
  });

  it('commits by hand, heartbeating and retrying after STALE_MEMBER_EPOCH, and refuses a partition it does not own', async () => {
    await createTopic(stack.url, 'manual', 2);
    await produce('manual', 2, 5, 'manual');
    const m = await startMember(stack.url, { name: 'm', groupId: 'manual-group', topics: ['manual'], timeline: [], handled: [], options: { autoCommit: false } });
    await until(() => m.owned().length === 2, 'the member to own both partitions');
    m.fault('/offsets', { status: 409, body: { error: 'STALE_MEMBER_EPOCH', message: 'injected', retriable: false } });
    await m.consumer.commitOffsets([{ topic: 'manual', partition: 1, offset: 3 }]);
    expect(await sluice.admin().fetchOffsets('manual-group')).toMatchObject([{ topic: 'manual', partition: 1, offset: 3 }]);
    await expect(m.consumer.commitOffsets([{ topic: 'manual', partition: 7, offset: 1 }])).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    await createTopic(stack.url, 'other', 1);
    await expect(m.consumer.commitOffsets([{ topic: 'other', partition: 0, offset: 1 }])).rejects.toMatchObject({ code: 'STALE_MEMBER_EPOCH' });
    // autoCommit off: stop commits nothing more.
    await m.consumer.stop();
    expect((await sluice.admin().fetchOffsets('manual-group')).map((o) => [o.partition, o.offset])).toEqual([[1, 3]]);
  });

  it('stops on a handler error: commits what was handled before it, leaves the group, and done() rejects', async () => {
    await createTopic(stack.url, 'failing', 1);
    await produce('failing', 1, 5, 'f');
    const consumer = sluice.consumer({ groupId: 'failing-group', ...FAST });
    consumer.subscribe({ topic: 'failing' });
    const crashes: unknown[] = [];
    consumer.on('crash', ({ error }) => crashes.push(error));
    await consumer.run({
      eachMessage: ({ message }) => {
        if (message.offset === 3) throw new Error('handler failed');
      },
    });
    await expect(consumer.done()).rejects.toThrow('handler failed');
    expect(crashes).toHaveLength(1);
    const described = await sluice.admin().describeGroup('failing-group');
    expect(described).toMatchObject({ state: 'Empty', partitions: [{ partition: 0, committedOffset: 3 }] });
  });

  it('starts a partition where onPartitionsAssigned seeks, and hands eachBatch whole batches', async () => {
    await createTopic(stack.url, 'sought', 1);
    await produce('sought', 1, 10, 's');
    const consumer = sluice.consumer({ groupId: 'sought-group', ...FAST });
    consumer.subscribe({ topics: ['sought'] });
    const offsets: number[] = [];
    await consumer.run({
      onPartitionsAssigned: (partitions) => {
        for (const p of partitions) consumer.seek({ ...p, offset: 6 });
      },
      eachBatch: ({ batch }) => void offsets.push(...batch.messages.map((m) => m.offset)),
    });
    await until(() => offsets.length === 4, 'the four records from offset 6');
    await consumer.stop();
    expect(offsets).toEqual([6, 7, 8, 9]);
    expect(await sluice.admin().fetchOffsets('sought-group')).toMatchObject([{ partition: 0, offset: 10 }]);
  });
});

describe('Class: Admin (groups)', () => {
  it('lists and describes groups, fetches committed offsets, and resets them only while the group is empty', async () => {
    // Prepare
    await createTopic(stack.url, 'ledger', 2);
    const producer = sluice.producer();
    await producer.send({ topic: 'ledger', messages: [0, 1, 2, 3, 4].map((i) => ({ partition: 0, value: `v${i}`, timestamp: 1000 * (i + 1) })) });
    await producer.disconnect();
    const admin = sluice.admin();
    const m = await startMember(stack.url, { name: 'm', groupId: 'ledger-group', topics: ['ledger'], timeline: [], handled: [] });
    await until(async () => (await admin.fetchOffsets('ledger-group')).find((o) => o.partition === 0)?.offset === 5, 'the member to commit partition 0');

    // Act and assess
    await expect(admin.resetOffsets('ledger-group', { topic: 'ledger', to: 'earliest' })).rejects.toMatchObject({ code: 'NON_EMPTY_GROUP' });
    const live = await admin.describeGroup('ledger-group');
    expect(live).toMatchObject({ group: 'ledger-group', state: 'Stable', members: [{ memberId: m.consumer.memberId, assignment: [{ topic: 'ledger', partitions: [0, 1] }] }] });
    await m.consumer.stop();
    expect(await admin.listGroups()).toContainEqual({ group: 'ledger-group' });
    expect(await admin.resetOffsets('ledger-group', { topic: 'ledger', to: 'earliest' })).toEqual([
      { topic: 'ledger', partition: 0, offset: 0 },
      { topic: 'ledger', partition: 1, offset: 0 },
    ]);
    expect((await admin.resetOffsets('ledger-group', { topic: 'ledger', offset: 3 })).map((o) => o.offset)).toEqual([3, 0]);
    expect((await admin.resetOffsets('ledger-group', { topic: 'ledger', timestamp: 2500 })).map((o) => o.offset)).toEqual([2, 0]);
    expect((await admin.fetchOffsets('ledger-group', { topics: ['ledger'] })).map((o) => [o.partition, o.offset])).toEqual([
      [0, 2],
      [1, 0],
    ]);
    expect((await admin.describeGroup('ledger-group')).partitions[0]).toMatchObject({ committedOffset: 2, highWatermark: 5, lag: 3, owner: null });
    await expect(admin.describeGroup('no-such-group')).rejects.toMatchObject({ code: 'GROUP_ID_NOT_FOUND' });
  });
});

describe('Function: resolveGroupConsumerOptions', () => {
  it.each([
    [{ groupId: 'bad group' }, /groupId/],
    [{ groupId: 'g', sessionTimeoutMs: 500 }, /sessionTimeoutMs/],
    [{ groupId: 'g', sessionTimeoutMs: 2000, heartbeatIntervalMs: 2000 }, /heartbeatIntervalMs must be below sessionTimeoutMs \(2000\)/],
    [{ groupId: 'g', assignor: 'sticky' as 'range' }, /assignor/],
    [{ groupId: 'g', autoCommitIntervalMs: 0 }, /autoCommitIntervalMs/],
  ])('fails with INVALID_CONFIG for %j', (options, message) => {
    expect(() => sluice.consumer(options)).toThrow(message);
  });
});
