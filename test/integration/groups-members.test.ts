import { BatchWriteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { assign } from '../../lib/groups/assignors.ts';
import { newGroupMeta } from '../../lib/groups/reconcile.ts';
import type { Member } from '../../lib/groups/schema.ts';
import { memberToItem, metaItems } from '../../lib/groups/store.ts';
import { sharedStorage } from '../../lib/storage/clients.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

type TP = { topic: string; partitions: number[] };
const keys = (list: TP[]) => list.flatMap((t) => t.partitions.map((p) => `${t.topic}:${p}`)).sort();
const grouped = (owned: string[]): TP[] => [...new Set(owned.map((k) => k.slice(0, k.lastIndexOf(':'))))].map((topic) => ({ topic, partitions: owned.filter((k) => k.startsWith(`${topic}:`)).map((k) => Number(k.slice(k.lastIndexOf(':') + 1))) }));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A member speaking the heartbeat protocol directly. */
class M {
  epoch = 0;
  owned: string[] = [];
  constructor(
    readonly group: string,
    public id: string,
    readonly join: Record<string, unknown>,
  ) {}
  async beat(extra: Record<string, unknown> = {}): Promise<{ status: number; body: any }> {
    const body = this.epoch === 0 ? { memberId: this.id, memberEpoch: 0, ...this.join, ...extra } : { memberId: this.id, memberEpoch: this.epoch, ownedPartitions: grouped(this.owned), ...extra };
    const res = await api(stack.url, 'POST', `/v1/groups/${this.group}/heartbeat`, body);
    if (res.status === 200 && res.body.memberEpoch > 0) {
      this.epoch = res.body.memberEpoch;
      this.owned = keys(res.body.assignment);
    }
    return res;
  }
}

async function settle(members: M[], rounds = 8): Promise<void> {
  for (let i = 0; i < rounds; i++) for (const m of members) expect((await m.beat()).status).toBe(200);
}

const describeGroup = async (group: string) => (await api(stack.url, 'GET', `/v1/groups/${group}`)).body;

/** Counts the DynamoDB commands the in-process handlers send while `act` runs. */
async function counted(act: () => Promise<void>): Promise<{ commands: Record<string, number>; readUnits: number; topicListings: number; elapsedMs: number }> {
  const ddb = sharedStorage().ddb;
  const commands: Record<string, number> = {};
  let readUnits = 0;
  let topicListings = 0;
  ddb.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName as string;
      commands[name] = (commands[name] ?? 0) + 1;
      const input = args.input as { ReturnConsumedCapacity?: string; ExpressionAttributeValues?: Record<string, { S?: string }> };
      if (name === 'QueryCommand' && input.ExpressionAttributeValues?.[':pk']?.S === 'TOPICS') topicListings++;
      input.ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const consumed = (result.output as { ConsumedCapacity?: { CapacityUnits?: number } | Array<{ CapacityUnits?: number }> }).ConsumedCapacity;
      if (name === 'BatchGetItemCommand' || name === 'QueryCommand') for (const c of Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed]) readUnits += c.CapacityUnits ?? 0;
      return result;
    },
    { step: 'initialize', name: 'groupsMembersCounter' },
  );
  const startedAt = Date.now();
  try {
    await act();
  } finally {
    ddb.middlewareStack.remove('groupsMembersCounter');
  }
  return { commands, readUnits, topicListings, elapsedMs: Date.now() - startedAt };
}

describe('steady heartbeat cost', () => {
  it('reads only META and the member\'s own item: the same requests and read units at 3 and 500 members (one 1000-partition topic)', async () => {
    const perSize: Array<Awaited<ReturnType<typeof counted>>> = [];
    for (const size of [3, 500]) {
      // Prepare: a stable group written directly.
      const topic = `steady-${size}`;
      const created = await api(stack.url, 'POST', '/v1/topics', { name: topic, partitions: 1000 });
      const group = `${topic}-group`;
      const ids = Array.from({ length: size }, (_, i) => `member-${i}`);
      const target = assign('uniform', { subscriptions: new Map(ids.map((id) => [id, [topic]])), partitionCounts: new Map([[topic, 1000]]), current: new Map() });
      const nowMs = Date.now();
      const meta = { ...newGroupMeta(group), groupEpoch: 1, assignmentEpoch: 1, topics: [{ name: topic, topicId: created.body.topicId as string, partitions: 1000 }], target, sessionTimeoutMs: 120_000, subscribedNames: [topic], nextSweepAtMs: nowMs + 120_000, version: 1 };
      for (const Item of metaItems(meta)) await stack.storage.ddb.send(new PutCommand({ TableName: stack.storage.env.tableName, Item }));
      const members: Member[] = ids.map((memberId) => ({
        memberId, memberEpoch: 1, previousMemberEpoch: 0, subscribedTopics: [topic], assignor: 'uniform', assigned: target.get(memberId) ?? [], revoking: [], revokeDeadlineMs: 0,
        rebalanceTimeoutMs: 300_000, fenced: false, atTarget: true, assignmentVersion: 1, expiresAtMs: nowMs + 120_000, lastHeartbeatMs: nowMs, joinedAtMs: nowMs,
      }));
      for (let i = 0; i < members.length; i += 25) {
        await stack.storage.ddb.send(new BatchWriteCommand({ RequestItems: { [stack.storage.env.tableName]: members.slice(i, i + 25).map((m) => ({ PutRequest: { Item: memberToItem(group, m) } })) } }));
      }
      const m = new M(group, 'member-1', {});
      m.epoch = 1;
      m.owned = [...(target.get('member-1') ?? [])];
      expect((await m.beat()).status).toBe(200); // warms the topic cache
      // Act
      perSize.push(await counted(async () => {
        for (let i = 0; i < 10; i++) expect((await m.beat()).status).toBe(200);
      }));
    }
    // Assess
    for (const c of perSize) {
      // (A GetItem is the topic cache's refresh, once per 5 s.)
      expect({ ...c.commands, GetItemCommand: undefined }).toEqual({ BatchGetItemCommand: 10, PutItemCommand: 10, GetItemCommand: undefined });
      expect(c.commands.GetItemCommand ?? 0).toBeLessThanOrEqual(Math.ceil(c.elapsedMs / 5000));
    }
    expect(perSize[1]!.readUnits).toBe(perSize[0]!.readUnits);
  });

  it('still removes a crashed member and hands its partitions on, though steady heartbeats read no other member', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'crash-steady', partitions: 4 });
    const join = { subscribedTopics: ['crash-steady'], sessionTimeoutMs: 3000, heartbeatIntervalMs: 100 };
    const [a, b] = [new M('crash-steady-g', 'a', join), new M('crash-steady-g', 'b', join)];
    await settle([a, b]);
    expect([a.owned.length, b.owned.length]).toEqual([2, 2]);
    // b crashes; a heartbeats on its interval.
    const deadline = Date.now() + 15_000;
    while (a.owned.length < 4 && Date.now() < deadline) {
      expect((await a.beat()).status).toBe(200);
      await sleep(100);
    }
    expect(a.owned).toHaveLength(4);
    expect((await b.beat()).body.error).toBe('UNKNOWN_MEMBER_ID');
  });
});

describe('static membership (KIP-345 / KIP-848)', () => {
  it('moves no partition in a rolling restart: each instance leaves with -2 and comes back under a new member id', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'rolling', partitions: 6 });
    const join = (instance: string) => ({ instanceId: instance, subscribedTopics: ['rolling'], sessionTimeoutMs: 5000, heartbeatIntervalMs: 200 });
    const members = ['i0', 'i1', 'i2'].map((instance) => new M('rolling-g', `${instance}-gen0`, join(instance)));
    await settle(members);
    const before = new Map(members.map((m, i) => [`i${i}`, [...m.owned]]));
    const epochBefore = (await describeGroup('rolling-g')).groupEpoch;
    for (let i = 0; i < 3; i++) {
      const old = members[i]!;
      expect((await api(stack.url, 'POST', '/v1/groups/rolling-g/heartbeat', { memberId: old.id, memberEpoch: -2, instanceId: `i${i}` })).body.memberEpoch).toBe(-2);
      // The others heartbeat while it is away: they gain nothing.
      for (const other of members.filter((m) => m !== old)) {
        expect((await other.beat()).status).toBe(200);
        expect(other.owned.every((k) => !before.get(`i${i}`)!.includes(k))).toBe(true);
      }
      const back = new M('rolling-g', `i${i}-gen1`, join(`i${i}`));
      const joined = await back.beat();
      expect(joined.status).toBe(200);
      expect(keys(joined.body.assignment)).toEqual(before.get(`i${i}`));
      members[i] = back;
    }
    await settle(members, 2);
    expect(new Map(members.map((m, i) => [`i${i}`, m.owned]))).toEqual(before);
    const after = await describeGroup('rolling-g');
    expect(after.groupEpoch).toBe(epochBefore);
    expect(after.state).toBe('Stable');
    expect(after.members.map((m: { instanceId: string }) => m.instanceId).sort()).toEqual(['i0', 'i1', 'i2']);
  });

  it('keeps a -2 leaver\'s partitions for the session timeout, then moves them', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'static-away', partitions: 2 });
    const join = { subscribedTopics: ['static-away'], sessionTimeoutMs: 3000, heartbeatIntervalMs: 100 };
    const [a, b] = [new M('static-away-g', 'a', { ...join, instanceId: 'ia' }), new M('static-away-g', 'b', join)];
    await settle([a, b]);
    const leftAt = Date.now();
    await api(stack.url, 'POST', '/v1/groups/static-away-g/heartbeat', { memberId: 'a', memberEpoch: -2, instanceId: 'ia' });
    while (Date.now() < leftAt + 2000) {
      await b.beat();
      expect(b.owned).toHaveLength(1);
      await sleep(100);
    }
    const deadline = Date.now() + 15_000;
    while (b.owned.length < 2 && Date.now() < deadline) {
      await b.beat();
      await sleep(100);
    }
    expect(b.owned).toHaveLength(2);
    expect(Date.now() - leftAt).toBeGreaterThanOrEqual(3000);
  });

  it('refuses a join under an instance id a live member holds (UNRELEASED_INSTANCE_ID), and fences the old member once a new one took it over (FENCED_INSTANCE_ID)', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'static-fence', partitions: 2 });
    const join = { instanceId: 'web-1', subscribedTopics: ['static-fence'], sessionTimeoutMs: 5000, heartbeatIntervalMs: 200 };
    const old = new M('static-fence-g', 'old', join);
    await settle([old], 2);
    const second = await new M('static-fence-g', 'second', join).beat();
    expect(second).toMatchObject({ status: 409, body: { error: 'UNRELEASED_INSTANCE_ID' } });
    expect((await old.beat({ instanceId: 'web-1' })).status).toBe(200);
    expect(old.owned).toHaveLength(2);
    // Released with -2, then taken over.
    await api(stack.url, 'POST', '/v1/groups/static-fence-g/heartbeat', { memberId: 'old', memberEpoch: -2, instanceId: 'web-1' });
    const successor = new M('static-fence-g', 'new', join);
    expect(keys((await successor.beat()).body.assignment)).toEqual(['static-fence:0', 'static-fence:1']);
    expect((await api(stack.url, 'POST', '/v1/groups/static-fence-g/heartbeat', { memberId: 'old', memberEpoch: old.epoch, instanceId: 'web-1' })).body.error).toBe('FENCED_INSTANCE_ID');
    expect((await api(stack.url, 'POST', '/v1/groups/static-fence-g/heartbeat', { memberId: 'old', memberEpoch: old.epoch })).body.error).toBe('UNKNOWN_MEMBER_ID');
    expect((await api(stack.url, 'POST', '/v1/groups/static-fence-g/offsets', { memberId: 'old', memberEpoch: old.epoch, offsets: [{ topic: 'static-fence', partition: 0, offset: 1 }] })).status).toBe(404);
    expect((await api(stack.url, 'POST', '/v1/groups/static-fence-g/offsets', { memberId: 'new', memberEpoch: successor.epoch, offsets: [{ topic: 'static-fence', partition: 0, offset: 7 }] })).status).toBe(200);
  });

  it('never accepts a late heartbeat or commit of the old member racing a rejoin under its instance id (10 rounds)', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'static-race', partitions: 2 });
    const join = { instanceId: 'racer', subscribedTopics: ['static-race'], sessionTimeoutMs: 5000, heartbeatIntervalMs: 200 };
    let current = new M('static-race-g', 'racer-0', join);
    await settle([current], 2);
    let committed = 0;
    for (let round = 1; round <= 10; round++) {
      const old = current;
      const offset = 100 * round;
      expect((await api(stack.url, 'POST', '/v1/groups/static-race-g/offsets', { memberId: old.id, memberEpoch: old.epoch, offsets: [{ topic: 'static-race', partition: 0, offset }] })).status).toBe(200);
      committed = offset;
      await api(stack.url, 'POST', '/v1/groups/static-race-g/heartbeat', { memberId: old.id, memberEpoch: -2, instanceId: 'racer' });
      const next = new M('static-race-g', `racer-${round}`, join);
      // A commit and a heartbeat the old incarnation sent before it left, arriving with the rejoin.
      const [joined, lateCommit, lateBeat] = await Promise.all([
        next.beat(),
        api(stack.url, 'POST', '/v1/groups/static-race-g/offsets', { memberId: old.id, memberEpoch: old.epoch, offsets: [{ topic: 'static-race', partition: 0, offset: offset - 50 }] }),
        api(stack.url, 'POST', '/v1/groups/static-race-g/heartbeat', { memberId: old.id, memberEpoch: old.epoch, instanceId: 'racer', ownedPartitions: grouped(old.owned) }),
      ]);
      expect(joined.status).toBe(200);
      expect(keys(joined.body.assignment)).toEqual(['static-race:0', 'static-race:1']);
      expect(lateCommit.status).not.toBe(200);
      expect(lateBeat.status).not.toBe(200);
      expect(['FENCED_MEMBER_EPOCH', 'FENCED_INSTANCE_ID', 'UNKNOWN_MEMBER_ID']).toContain(lateBeat.body.error);
      const offsets = (await api(stack.url, 'GET', '/v1/groups/static-race-g/offsets')).body.offsets as Array<{ partition: number; offset: number }>;
      expect(offsets.find((o) => o.partition === 0)?.offset).toBe(committed);
      const described = await describeGroup('static-race-g');
      expect(described.members.map((m: { memberId: string }) => m.memberId)).toEqual([next.id]);
      current = next;
    }
  });
});

describe('regex subscription (subscribedTopicRegex)', () => {
  it('assigns a topic created later that matches, without a rejoin, listing topics at most once per cache period', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'rx-a', partitions: 2 });
    await api(stack.url, 'POST', '/v1/topics', { name: 'not-rx', partitions: 1 });
    const m = new M('rx-g', 'rx-member', { subscribedTopics: [], subscribedTopicRegex: 'rx-.*', sessionTimeoutMs: 10_000, heartbeatIntervalMs: 200 });
    await settle([m], 2);
    expect(m.owned).toEqual(['rx-a:0', 'rx-a:1']);
    await api(stack.url, 'POST', '/v1/topics', { name: 'rx-b', partitions: 1 });
    const startedAt = Date.now();
    const cost = await counted(async () => {
      while (!m.owned.includes('rx-b:0') && Date.now() < startedAt + 10_000) {
        const res = await m.beat();
        expect(res.status).toBe(200);
        await sleep(100);
      }
    });
    expect(m.owned).toEqual(['rx-a:0', 'rx-a:1', 'rx-b:0']);
    expect(m.epoch).toBeGreaterThan(0);
    // One listing per 5 s cache period, and one more when the listing disagrees with the group.
    expect(cost.topicListings).toBeLessThanOrEqual(Math.ceil((Date.now() - startedAt) / 5000) + 2);
    const described = await describeGroup('rx-g');
    expect(described.members[0]).toMatchObject({ memberId: 'rx-member', subscribedTopicRegex: 'rx-.*' });
  });

  it.each([
    ['(a+)+', 'nested quantifier'],
    ['(x|y*)*z', 'nested quantifier'],
    ['(a)\\1', 'backreference'],
    ['[unclosed', 'syntax'],
    ['a'.repeat(300), 'length'],
  ])('refuses %j with INVALID_REGULAR_EXPRESSION (%s)', async (pattern) => {
    const res = await api(stack.url, 'POST', '/v1/groups/rx-bad/heartbeat', { memberId: 'x', memberEpoch: 0, subscribedTopics: [], subscribedTopicRegex: pattern });
    expect(res).toMatchObject({ status: 400, body: { error: 'INVALID_REGULAR_EXPRESSION' } });
  });
});

describe('describe states', () => {
  it('answers Assigning while the target still includes an expired member, and Stable once a heartbeat recomputed it', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'assigning', partitions: 2 });
    const join = { subscribedTopics: ['assigning'], sessionTimeoutMs: 3000, heartbeatIntervalMs: 100 };
    const [a, b] = [new M('assigning-g', 'a', join), new M('assigning-g', 'b', join)];
    await settle([a, b], 3);
    expect((await describeGroup('assigning-g')).state).toBe('Stable');
    // b stops; a heartbeats once more before b's lease ends, then not until after it.
    const bLastBeat = Date.now();
    await b.beat();
    await sleep(1500);
    expect((await a.beat()).status).toBe(200);
    while (Date.now() < bLastBeat + 3100) await sleep(50);
    const lagging = await describeGroup('assigning-g');
    expect(lagging.members.map((m: { memberId: string }) => m.memberId)).toEqual(['a']);
    expect(lagging.state).toBe('Assigning');
    expect((await a.beat()).status).toBe(200);
    expect(a.owned).toEqual(['assigning:0', 'assigning:1']);
    expect((await describeGroup('assigning-g')).state).toBe('Stable');
  });

  it('answers GROUP_ID_NOT_FOUND for a group never seen and for an empty group past the retention, Dead while member items outlive META', async () => {
    expect((await api(stack.url, 'GET', '/v1/groups/never-seen-group')).body.error).toBe('GROUP_ID_NOT_FOUND');
    const nowMs = Date.now();
    const put = (Item: object) => stack.storage.ddb.send(new PutCommand({ TableName: stack.storage.env.tableName, Item }));
    for (const Item of metaItems({ ...newGroupMeta('expired-g'), groupEpoch: 3, assignmentEpoch: 3, emptySinceMs: nowMs - 8 * 24 * 3600_000, version: 3 })) await put(Item);
    for (const Item of metaItems({ ...newGroupMeta('recent-g'), groupEpoch: 3, assignmentEpoch: 3, emptySinceMs: nowMs - 60_000, version: 3 })) await put(Item);
    expect((await api(stack.url, 'GET', '/v1/groups/expired-g')).body.error).toBe('GROUP_ID_NOT_FOUND');
    expect((await describeGroup('recent-g')).state).toBe('Empty');
    const orphan: Member = { memberId: 'z', memberEpoch: 1, previousMemberEpoch: 0, subscribedTopics: ['x'], assignor: 'uniform', assigned: [], revoking: [], revokeDeadlineMs: 0, rebalanceTimeoutMs: 1000, fenced: false, assignmentVersion: 1, expiresAtMs: nowMs + 60_000, lastHeartbeatMs: nowMs, joinedAtMs: nowMs };
    await put(memberToItem('dying-g', orphan));
    expect((await describeGroup('dying-g')).state).toBe('Dead');
  });
});
