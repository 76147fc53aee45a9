import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';
import { ProtocolMember, type Ownership } from '../support/group-member.ts';
import { BatchWriteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { assign } from '../../lib/groups/assignors.ts';
import { newGroupMeta } from '../../lib/groups/reconcile.ts';
import type { Member } from '../../lib/groups/schema.ts';
import { memberToItem, metaItems } from '../../lib/groups/store.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
  await api(stack.url, 'POST', '/v1/topics', { name: 'k2', partitions: 2 });
  await api(stack.url, 'POST', '/v1/topics', { name: 'k4', partitions: 4 });
});
afterAll(async () => {
  await stack?.close();
});

type TP = Array<{ topic: string; partitions: number[] }>;

async function beat(group: string, body: Record<string, unknown>): Promise<{ status: number; body: any }> {
  return api(stack.url, 'POST', `/v1/groups/${group}/heartbeat`, body);
}

function keys(list: TP): string[] {
  return list.flatMap((t) => t.partitions.map((p) => `${t.topic}:${p}`)).sort();
}

async function commit(group: string, memberId: string | undefined, memberEpoch: number | undefined, offsets: Array<{ topic: string; partition: number; offset: number }>) {
  return api(stack.url, 'POST', `/v1/groups/${group}/offsets`, { ...(memberId === undefined ? {} : { memberId, memberEpoch }), offsets });
}

async function committed(group: string): Promise<Array<[string, number, number]>> {
  const res = await api(stack.url, 'GET', `/v1/groups/${group}/offsets`);
  return res.body.offsets.map((o: { topic: string; partition: number; offset: number }) => [o.topic, o.partition, o.offset]);
}

describe('member epochs (KIP-848)', () => {
  it('never gives a rejoining member id an epoch it held before, so a delayed commit of the earlier incarnation is refused', async () => {
    const first = await beat('ep1', { memberId: 'm', memberEpoch: 0, subscribedTopics: ['k2'] });
    expect(first.status).toBe(200);
    expect((await commit('ep1', 'm', first.body.memberEpoch, [{ topic: 'k2', partition: 0, offset: 90 }])).status).toBe(200);
    // The member loses its membership and rejoins under the same id.
    const again = await beat('ep1', { memberId: 'm', memberEpoch: 0, subscribedTopics: ['k2'] });
    expect(again.body.memberEpoch).toBeGreaterThan(first.body.memberEpoch);
    // A commit of the first incarnation, delayed in the network, arrives now.
    const zombie = await commit('ep1', 'm', first.body.memberEpoch, [{ topic: 'k2', partition: 0, offset: 10 }]);
    expect(zombie).toMatchObject({ status: 409, body: { error: 'STALE_MEMBER_EPOCH' } });
    const zombieBeat = await beat('ep1', { memberId: 'm', memberEpoch: first.body.memberEpoch, ownedPartitions: first.body.assignment });
    expect(zombieBeat).toMatchObject({ status: 409, body: { error: 'FENCED_MEMBER_EPOCH' } });
    expect(await committed('ep1')).toEqual([['k2', 0, 90]]);
  });

  it('accepts the previous epoch once more when a heartbeat response was lost and the member owns no more than its assignment', async () => {
    const a = await beat('ep2', { memberId: 'a', memberEpoch: 0, subscribedTopics: ['k4'] });
    const aParts = keys(a.body.assignment);
    expect(aParts).toHaveLength(4);
    await beat('ep2', { memberId: 'b', memberEpoch: 0, subscribedTopics: ['k4'] });
    // a is told to give up two partitions (its epoch stays while it revokes)...
    const revoke = await beat('ep2', { memberId: 'a', memberEpoch: a.body.memberEpoch, ownedPartitions: a.body.assignment });
    expect(keys(revoke.body.assignment)).toHaveLength(2);
    expect(revoke.body.memberEpoch).toBe(a.body.memberEpoch);
    // ...reports the release and moves to a new epoch, but that response is lost.
    const lost = await beat('ep2', { memberId: 'a', memberEpoch: revoke.body.memberEpoch, ownedPartitions: revoke.body.assignment });
    expect(lost.status).toBe(200);
    expect(lost.body.memberEpoch).toBeGreaterThan(revoke.body.memberEpoch);
    const retry = await beat('ep2', { memberId: 'a', memberEpoch: revoke.body.memberEpoch, ownedPartitions: revoke.body.assignment });
    expect(retry).toMatchObject({ status: 200, body: { memberEpoch: lost.body.memberEpoch } });
    // Claiming more than its assignment at the previous epoch is still fenced.
    const greedy = await beat('ep2', { memberId: 'a', memberEpoch: revoke.body.memberEpoch, ownedPartitions: a.body.assignment });
    expect(greedy).toMatchObject({ status: 409, body: { error: 'FENCED_MEMBER_EPOCH' } });
  });
});

describe('revocation (KIP-848)', () => {
  it('moves a revoked partition only once its owner reports the release: a heartbeat without ownedPartitions changes nothing', async () => {
    const a = await beat('ir', { memberId: 'a', memberEpoch: 0, subscribedTopics: ['k2'] });
    expect(keys(a.body.assignment)).toEqual(['k2:0', 'k2:1']);
    const b = await beat('ir', { memberId: 'b', memberEpoch: 0, subscribedTopics: ['k2'] });
    expect(b.body.assignment).toEqual([]);
    // a learns of the revocation without ever reporting what it owns.
    const told = await beat('ir', { memberId: 'a', memberEpoch: a.body.memberEpoch });
    expect(keys(told.body.assignment)).toHaveLength(1);
    const revoked = ['k2:0', 'k2:1'].filter((k) => !keys(told.body.assignment).includes(k));
    for (let i = 0; i < 3; i++) {
      await beat('ir', { memberId: 'a', memberEpoch: told.body.memberEpoch });
      const bNow = await beat('ir', { memberId: 'b', memberEpoch: b.body.memberEpoch });
      expect(bNow.body.assignment).toEqual([]);
    }
    const described = await api(stack.url, 'GET', '/v1/groups/ir');
    expect(described.body.state).toBe('Reconciling');
    const [topic, p] = revoked[0]!.split(':');
    expect(described.body.partitions.find((x: { partition: number }) => x.partition === Number(p))).toMatchObject({ topic, owner: 'a', pendingOwner: 'b' });
    // The release, reported: b gets it on its next heartbeat.
    await beat('ir', { memberId: 'a', memberEpoch: told.body.memberEpoch, ownedPartitions: told.body.assignment });
    const bAfter = await beat('ir', { memberId: 'b', memberEpoch: b.body.memberEpoch });
    expect(keys(bAfter.body.assignment)).toEqual(revoked);
    expect((await api(stack.url, 'GET', '/v1/groups/ir')).body.state).toBe('Stable');
  });

  it('fences a member that keeps heartbeating without releasing a revoked partition past its rebalance timeout, and moves the partition on', async () => {
    const a = await beat('rt', { memberId: 'a', memberEpoch: 0, subscribedTopics: ['k2'], rebalanceTimeoutMs: 800 });
    const b = await beat('rt', { memberId: 'b', memberEpoch: 0, subscribedTopics: ['k2'] });
    const told = await beat('rt', { memberId: 'a', memberEpoch: a.body.memberEpoch, ownedPartitions: a.body.assignment });
    expect(keys(told.body.assignment)).toHaveLength(1);
    const revoked = keys(a.body.assignment).filter((k) => !keys(told.body.assignment).includes(k));
    // A hung handler: a heartbeats on, still reporting the revoked partition as owned.
    const stillOwned = await beat('rt', { memberId: 'a', memberEpoch: told.body.memberEpoch, ownedPartitions: a.body.assignment });
    expect(stillOwned.status).toBe(200);
    await new Promise((r) => setTimeout(r, 900));
    const fenced = await beat('rt', { memberId: 'a', memberEpoch: told.body.memberEpoch, ownedPartitions: a.body.assignment });
    expect(fenced).toMatchObject({ status: 409, body: { error: 'FENCED_MEMBER_EPOCH' } });
    const [, p] = revoked[0]!.split(':');
    const late = await commit('rt', 'a', told.body.memberEpoch, [{ topic: 'k2', partition: Number(p), offset: 3 }]);
    expect(late).toMatchObject({ status: 409, body: { error: 'FENCED_MEMBER_EPOCH' } });
    const bNow = await beat('rt', { memberId: 'b', memberEpoch: b.body.memberEpoch, ownedPartitions: [] });
    expect(keys(bNow.body.assignment)).toEqual(['k2:0', 'k2:1']);
    // The fenced member rejoins as a new incarnation and gets a share again.
    const rejoined = await beat('rt', { memberId: 'a', memberEpoch: 0, subscribedTopics: ['k2'] });
    expect(rejoined.status).toBe(200);
    expect(rejoined.body.memberEpoch).toBeGreaterThan(told.body.memberEpoch);
  });

  it('fences a member past its rebalance timeout from another member\'s heartbeat, even if it stopped heartbeating', async () => {
    const a = await beat('rt2', { memberId: 'a', memberEpoch: 0, subscribedTopics: ['k2'], rebalanceTimeoutMs: 500, sessionTimeoutMs: 30_000 });
    expect(keys(a.body.assignment)).toEqual(['k2:0', 'k2:1']);
    const b = await beat('rt2', { memberId: 'b', memberEpoch: 0, subscribedTopics: ['k2'] });
    await beat('rt2', { memberId: 'a', memberEpoch: a.body.memberEpoch, ownedPartitions: a.body.assignment });
    await new Promise((r) => setTimeout(r, 600));
    // a's session runs for 30 s, but its rebalance timeout is long past.
    const bNow = await beat('rt2', { memberId: 'b', memberEpoch: b.body.memberEpoch, ownedPartitions: [] });
    expect(keys(bNow.body.assignment)).toEqual(['k2:0', 'k2:1']);
  });
});

describe('group epoch', () => {
  it('holds still over 100 heartbeats of a stable group of 3 members on 2 topics', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'alpha', partitions: 3 });
    await api(stack.url, 'POST', '/v1/topics', { name: 'beta', partitions: 3 });
    const timeline: Ownership[] = [];
    const members = ['x', 'y', 'z'].map((id) => new ProtocolMember(stack.url, 'ge', id, ['beta', 'alpha'], timeline));
    for (let round = 0; round < 6; round++) for (const m of members) await m.beat();
    const before = (await api(stack.url, 'GET', '/v1/groups/ge')).body;
    expect(before.state).toBe('Stable');
    for (let i = 0; i < 100; i++) await members[i % 3]!.beat();
    const after = (await api(stack.url, 'GET', '/v1/groups/ge')).body;
    expect(after.groupEpoch).toBe(before.groupEpoch);
    expect(members.map((m) => m.owned.length).sort()).toEqual([2, 2, 2]);
  });
});

describe('timeouts', () => {
  it("refuses a heartbeat interval that is not below the group's kept session timeout", async () => {
    const a = await beat('to', { memberId: 'a', memberEpoch: 0, subscribedTopics: ['k2'], sessionTimeoutMs: 1500, heartbeatIntervalMs: 200 });
    expect(a.status).toBe(200);
    await beat('to', { memberId: 'a', memberEpoch: -1 });
    const bad = await beat('to', { memberId: 'b', memberEpoch: 0, subscribedTopics: ['k2'], heartbeatIntervalMs: 10_000 });
    expect(bad).toMatchObject({ status: 400, body: { error: 'INVALID_REQUEST' } });
    expect((await beat('to', { memberId: 'b', memberEpoch: 0, subscribedTopics: ['k2'], heartbeatIntervalMs: 10_000, sessionTimeoutMs: 20_000 })).status).toBe(200);
  });
});

describe('committed offsets and topic incarnations', () => {
  it('deletes committed offsets with their topic: a re-created topic starts with none', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'reborn', partitions: 1 });
    expect((await commit('inc', undefined, undefined, [{ topic: 'reborn', partition: 0, offset: 50 }])).status).toBe(200);
    expect(await committed('inc')).toEqual([['reborn', 0, 50]]);
    expect((await api(stack.url, 'DELETE', '/v1/topics/reborn')).status).toBe(204);
    await api(stack.url, 'POST', '/v1/topics', { name: 'reborn', partitions: 1 });
    await api(stack.url, 'POST', '/v1/topics/reborn/records', { records: Array.from({ length: 5 }, (_, i) => ({ value: `v${i}` })) });
    expect(await committed('inc')).toEqual([]);
    const described = await api(stack.url, 'GET', '/v1/groups/inc');
    expect(described.body.partitions ?? []).not.toContainEqual(expect.objectContaining({ committedOffset: 50 }));
  });

  it('refuses a commit naming one partition twice with a 400, and writes nothing', async () => {
    const res = await commit('dup', undefined, undefined, [
      { topic: 'k2', partition: 0, offset: 1 },
      { topic: 'k2', partition: 0, offset: 2 },
    ]);
    expect(res).toMatchObject({ status: 400, body: { error: 'INVALID_REQUEST' } });
    expect((await api(stack.url, 'GET', '/v1/groups/dup')).status).toBe(404);
  });

  it('takes 99 offsets in one commit, standalone or a member\'s, and refuses 100 with a 400', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'wide', partitions: 100 });
    const offsets = Array.from({ length: 99 }, (_, partition) => ({ topic: 'wide', partition, offset: 1 }));
    expect((await commit('wide-standalone', undefined, undefined, offsets)).status).toBe(200);
    const m = await beat('wide-member', { memberId: 'solo', memberEpoch: 0, subscribedTopics: ['wide'] });
    expect((await commit('wide-member', 'solo', m.body.memberEpoch, offsets)).status).toBe(200);
    const tooMany = await commit('wide-standalone', undefined, undefined, [...offsets, { topic: 'wide', partition: 99, offset: 1 }]);
    expect(tooMany).toMatchObject({ status: 400, body: { error: 'INVALID_REQUEST' } });
  });

  it('treats member ids __proto__ and constructor as ordinary ids', async () => {
    for (const memberId of ['__proto__', 'constructor', 'toString']) {
      const joined = await beat('proto', { memberId, memberEpoch: 0, subscribedTopics: ['k4'] });
      expect(joined.status, memberId).toBe(200);
    }
    const again = await beat('proto', { memberId: '__proto__', memberEpoch: (await beat('proto', { memberId: '__proto__', memberEpoch: 0, subscribedTopics: ['k4'] })).body.memberEpoch, ownedPartitions: [] });
    expect(again.status).toBe(200);
    const described = await api(stack.url, 'GET', '/v1/groups/proto');
    expect(described.status).toBe(200);
    expect(described.body.members.map((m: { memberId: string }) => m.memberId).sort()).toEqual(['__proto__', 'constructor', 'toString']);
  });
});

describe('group size limits', () => {
  it('serves heartbeats for a topic with a 249-character name and 1000 partitions shared by 3 members', async () => {
    const name = 't'.repeat(249);
    expect((await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1000 })).status).toBe(201);
    const members = ['a', 'b', 'c'].map((id) => new ProtocolMember(stack.url, 'big', id, [name], []));
    for (let round = 0; round < 4; round++) for (const m of members) await m.beat();
    expect(members.map((m) => m.owned.length).sort()).toEqual([333, 333, 334]);
    expect(new Set(members.flatMap((m) => m.owned)).size).toBe(1000);
    const offsets = members[0]!.owned.slice(0, 99).map((k) => ({ topic: name, partition: Number(k.split(':')[1]), offset: 7 }));
    expect((await commit('big', 'a', members[0]!.epoch, offsets)).status).toBe(200);
    expect((await api(stack.url, 'GET', '/v1/groups/big')).body.state).toBe('Stable');
  });

  it('refuses with a 4xx a subscription past the partitions a group may cover (11 topics of 1000 partitions)', async () => {
    const topics = Array.from({ length: 11 }, (_, i) => `wide-${i}`);
    for (const name of topics) await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1000 });
    const res = await beat('too-wide', { memberId: 'a', memberEpoch: 0, subscribedTopics: topics });
    expect(res).toMatchObject({ status: 400, body: { error: 'INVALID_REQUEST' } });
    expect(res.body.message).toContain('10000 partitions');
  });

  it('keeps a group at its limits working: 500 members with 255-character ids on 10 topics of 1000 partitions with 249-character names', async () => {
    // Prepare: the stable group, written directly.
    const topics = Array.from({ length: 10 }, (_, i) => `${'L'.repeat(248)}${i}`);
    const groupTopics = [];
    for (const name of topics) {
      const res = await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1000 });
      groupTopics.push({ name, topicId: res.body.topicId as string, partitions: 1000 });
    }
    const ids = Array.from({ length: 500 }, (_, i) => `${i}-`.padEnd(255, 'm'));
    const target = assign('uniform', { subscriptions: new Map(ids.map((id) => [id, topics])), partitionCounts: new Map(topics.map((t) => [t, 1000])), current: new Map() });
    const nowMs = Date.now();
    const meta = { ...newGroupMeta('limits'), groupEpoch: 1, assignmentEpoch: 1, topics: groupTopics, target, sessionTimeoutMs: 120_000, version: 1 };
    const members: Member[] = ids.map((memberId) => ({
      memberId, memberEpoch: 1, previousMemberEpoch: 0, subscribedTopics: topics, assignor: 'uniform', assigned: target.get(memberId) ?? [], revoking: [],
      revokeDeadlineMs: 0, rebalanceTimeoutMs: 300_000, fenced: false, assignmentVersion: 1, expiresAtMs: nowMs + 120_000, lastHeartbeatMs: nowMs, joinedAtMs: nowMs,
    }));
    const { ddb, env } = stack.storage;
    for (const Item of metaItems(meta)) await ddb.send(new PutCommand({ TableName: env.tableName, Item }));
    for (let i = 0; i < members.length; i += 25) {
      await ddb.send(new BatchWriteCommand({ RequestItems: { [env.tableName]: members.slice(i, i + 25).map((m) => ({ PutRequest: { Item: memberToItem('limits', m) } })) } }));
    }
    // Act and assess: a steady heartbeat, a 501st join, and a leave that recomputes the target for 499.
    const steady = await beat('limits', { memberId: ids[7], memberEpoch: 1, ownedPartitions: [] });
    expect(steady.status).toBe(200);
    expect(keys(steady.body.assignment)).toHaveLength(20);
    expect(await beat('limits', { memberId: 'one-too-many', memberEpoch: 0, subscribedTopics: topics })).toMatchObject({ status: 409, body: { error: 'GROUP_MAX_SIZE_REACHED' } });
    const left = await beat('limits', { memberId: ids[0], memberEpoch: -1 });
    expect(left.status).toBe(200);
    const described = await api(stack.url, 'GET', '/v1/groups/limits');
    expect(described.body.members).toHaveLength(499);
    expect(described.body.groupEpoch).toBe(2);
  });
});
