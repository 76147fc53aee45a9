/**
 * Group administration (issue 10): DeleteGroups, OffsetDelete and offset retention by TTL;
 * and issue 16's defect 5, a late commit attempt that moved a committed offset back.
 */
import { BatchWriteCommand, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupOffsets, type CommittingMember } from '../../lib/client/group-offsets.ts';
import { Transport } from '../../lib/client/http.ts';
import { resolveRetryOptions } from '../../lib/client/options.ts';
import { Sluice } from '../../lib/client/index.ts';
import { OFFSETS } from '../../lib/config/defaults.ts';
import { SluiceError } from '../../lib/errors.ts';
import { deleteGroup } from '../../lib/groups/delete-group.ts';
import { heartbeat } from '../../lib/groups/heartbeat.ts';
import { keepOffsetsAlive, offsetExpiresAt, RETENTION_SK, type RetentionOptions } from '../../lib/groups/offset-retention.ts';
import { commitOffsets, committedOffsets } from '../../lib/groups/offsets.ts';
import { GROUPS_PK, groupPk, offsetSk, offsetsPk, registrySk } from '../../lib/groups/schema.ts';
import { Kafka } from '../../lib/kafkajs/index.ts';
import type { Storage } from '../../lib/storage/clients.ts';
import { TTL_ATTRIBUTE } from '../../lib/storage/provision.ts';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';
import { ProtocolMember } from '../support/group-member.ts';

let stack: LocalStack;
let storage: Storage;
let topicIds: Record<string, string>;
beforeAll(async () => {
  stack = await startTestStack();
  storage = stack.storage;
  topicIds = {};
  for (const [name, partitions] of [['alpha', 3], ['beta', 2], ['wide', 1000]] as const) {
    const created = await api(stack.url, 'POST', '/v1/topics', { name, partitions });
    expect(created.status).toBe(201);
    topicIds[name] = (await stack.storage.ddb.send(new GetCommand({ TableName: stack.storage.env.tableName, Key: { pk: 'TOPICS', sk: `T#${name}` } }))).Item?.topicId as string;
  }
});
afterAll(async () => {
  await stack?.close();
});

async function itemsUnder(pk: string): Promise<Array<Record<string, unknown>>> {
  const page = await storage.ddb.send(new QueryCommand({ TableName: storage.env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ConsistentRead: true }));
  return page.Items ?? [];
}

async function adminCommit(group: string, offsets: Array<{ topic: string; partition: number; offset: number }>): Promise<void> {
  const res = await api(stack.url, 'POST', `/v1/groups/${group}/offsets`, { offsets });
  expect(res.status).toBe(200);
}

async function fetched(group: string): Promise<string[]> {
  const res = await api(stack.url, 'GET', `/v1/groups/${group}/offsets`);
  return (res.body.offsets as Array<{ topic: string; partition: number; offset: number }>).map((o) => `${o.topic}:${o.partition}=${o.offset}`).sort();
}

/** Writes committed-offset items straight into the table, 25 per BatchWriteItem. */
async function seedOffsets(group: string, topic: string, count: number, extra: Record<string, unknown> = {}): Promise<void> {
  const items = Array.from({ length: count }, (_, p) => ({ pk: offsetsPk(group), sk: offsetSk(topicIds[topic] as string, p), topic, topicId: topicIds[topic], partition: p, offset: p, metadata: '', committedAtMs: Date.now(), ...extra }));
  for (let i = 0; i < items.length; i += 25) {
    await storage.ddb.send(new BatchWriteCommand({ RequestItems: { [storage.env.tableName]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
  }
}

describe('DeleteGroups (DELETE /v1/groups/{group})', () => {
  it("removes an empty group's META, member items, offsets and registry entry; a second delete finds nothing", async () => {
    const member = new ProtocolMember(stack.url, 'del-1', 'm1', ['alpha'], []);
    await member.beat();
    await member.beat();
    const commit = await api(stack.url, 'POST', '/v1/groups/del-1/offsets', { memberId: 'm1', memberEpoch: member.epoch, offsets: [{ topic: 'alpha', partition: 0, offset: 5 }] });
    expect(commit.status).toBe(200);
    await member.leave();

    const res = await api(stack.url, 'DELETE', '/v1/groups/del-1');

    expect(res.status).toBe(204);
    expect(await itemsUnder(groupPk('del-1'))).toEqual([]);
    expect(await itemsUnder(offsetsPk('del-1'))).toEqual([]);
    expect((await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk: GROUPS_PK, sk: registrySk('del-1') } }))).Item).toBeUndefined();
    expect((await api(stack.url, 'GET', '/v1/groups/del-1')).body.error).toBe('GROUP_ID_NOT_FOUND');
    expect(await api(stack.url, 'DELETE', '/v1/groups/del-1')).toMatchObject({ status: 404, body: { error: 'GROUP_ID_NOT_FOUND' } });
  });

  it('refuses with NON_EMPTY_GROUP while a member is live, and changes nothing', async () => {
    await adminCommit('del-2', [{ topic: 'beta', partition: 0, offset: 3 }]);
    const member = new ProtocolMember(stack.url, 'del-2', 'm1', ['alpha'], []);
    await member.beat();

    const res = await api(stack.url, 'DELETE', '/v1/groups/del-2');

    expect(res).toMatchObject({ status: 409, body: { error: 'NON_EMPTY_GROUP' } });
    expect(await fetched('del-2')).toEqual(['beta:0=3']);
    await member.beat();
    await member.leave();
    expect((await api(stack.url, 'DELETE', '/v1/groups/del-2')).status).toBe(204);
  });

  it('deletes a group that has only standalone commits (no META), and answers GROUP_ID_NOT_FOUND for one never seen', async () => {
    await adminCommit('del-3', [{ topic: 'alpha', partition: 1, offset: 7 }]);
    expect((await api(stack.url, 'DELETE', '/v1/groups/del-3')).status).toBe(204);
    expect(await fetched('del-3')).toEqual([]);
    expect(await api(stack.url, 'DELETE', '/v1/groups/never-seen')).toMatchObject({ status: 404, body: { error: 'GROUP_ID_NOT_FOUND' } });
  });

  it('makes a join that lands while a 1,500-offset group is being deleted wait, then start a fresh group with no offsets', async () => {
    const group = 'del-race';
    await adminCommit(group, [{ topic: 'alpha', partition: 0, offset: 1 }]);
    await seedOffsets(group, 'wide', 1000);
    // Another 499 items of a dead incarnation of 'wide' (what a deletion must also clear).
    const dead = Array.from({ length: 499 }, (_, p) => ({ pk: offsetsPk(group), sk: offsetSk('dead-incarnation', p), topic: 'wide', topicId: 'dead-incarnation', partition: p, offset: 1, metadata: '', committedAtMs: 0 }));
    for (let i = 0; i < dead.length; i += 25) await storage.ddb.send(new BatchWriteCommand({ RequestItems: { [storage.env.tableName]: dead.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));

    let deletedAtMs = 0;
    const deletion = deleteGroup(storage, group).then(() => (deletedAtMs = Date.now()));
    // Wait for the hold, then join, as a member that heartbeats would (retrying a 429).
    for (;;) {
      const meta = (await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk: groupPk(group), sk: 'META' }, ConsistentRead: true }))).Item;
      if (meta?.deletingUntilMs !== undefined) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    let joined: { memberEpoch: number } | undefined;
    let joinedAtMs = 0;
    while (joined === undefined) {
      try {
        joined = await heartbeat(storage, group, { memberId: 'late', memberEpoch: 0, subscribedTopics: ['alpha'] });
        joinedAtMs = Date.now();
      } catch (error) {
        if (!(error instanceof SluiceError && error.code === 'THROTTLING_QUOTA_EXCEEDED')) throw error;
      }
    }
    await deletion;

    expect(joinedAtMs).toBeGreaterThanOrEqual(deletedAtMs);
    expect(joined.memberEpoch).toBeGreaterThan(0);
    expect(await itemsUnder(offsetsPk(group))).toEqual([]);
    const described = await api(stack.url, 'GET', `/v1/groups/${group}`);
    expect(described.body.members).toEqual([expect.objectContaining({ memberId: 'late' })]);
    expect(described.body.partitions.every((p: { committedOffset: number | null }) => p.committedOffset === null)).toBe(true);
  });
});

describe('OffsetDelete (DELETE /v1/groups/{group}/offsets)', () => {
  it("deletes one partition's offset, then the rest of the topic's, and leaves other topics' offsets", async () => {
    await adminCommit('od-1', [0, 1, 2].map((partition) => ({ topic: 'alpha', partition, offset: 10 + partition })).concat([{ topic: 'beta', partition: 0, offset: 4 }]));

    expect(await api(stack.url, 'DELETE', '/v1/groups/od-1/offsets?topic=alpha&partition=1')).toMatchObject({ status: 200, body: { topic: 'alpha', partitions: [1] } });
    expect(await fetched('od-1')).toEqual(['alpha:0=10', 'alpha:2=12', 'beta:0=4']);
    expect(await api(stack.url, 'DELETE', '/v1/groups/od-1/offsets?topic=alpha')).toMatchObject({ status: 200, body: { topic: 'alpha', partitions: [0, 2] } });
    expect(await fetched('od-1')).toEqual(['beta:0=4']);
  });

  it('refuses with GROUP_SUBSCRIBED_TO_TOPIC while a live member subscribes to the topic, and deletes another topic', async () => {
    await adminCommit('od-2', [{ topic: 'alpha', partition: 0, offset: 1 }, { topic: 'beta', partition: 1, offset: 2 }]);
    const member = new ProtocolMember(stack.url, 'od-2', 'm1', ['alpha'], []);
    await member.beat();

    expect(await api(stack.url, 'DELETE', '/v1/groups/od-2/offsets?topic=alpha')).toMatchObject({ status: 409, body: { error: 'GROUP_SUBSCRIBED_TO_TOPIC' } });
    expect(await api(stack.url, 'DELETE', '/v1/groups/od-2/offsets?topic=beta&partition=1')).toMatchObject({ status: 200, body: { partitions: [1] } });
    expect(await fetched('od-2')).toEqual(['alpha:0=1']);
    await member.leave();
    expect(await api(stack.url, 'DELETE', '/v1/groups/od-2/offsets?topic=alpha')).toMatchObject({ status: 200, body: { partitions: [0] } });
  });

  it.each([
    ['/v1/groups/od-1/offsets?topic=nope', 404, 'UNKNOWN_TOPIC_OR_PARTITION'],
    ['/v1/groups/od-1/offsets?topic=alpha&partition=3', 404, 'UNKNOWN_TOPIC_OR_PARTITION'],
    ['/v1/groups/od-1/offsets?topic=alpha&partition=x', 400, 'INVALID_REQUEST'],
    ['/v1/groups/od-1/offsets', 400, 'INVALID_REQUEST'],
    ['/v1/groups/od-never/offsets?topic=alpha', 404, 'GROUP_ID_NOT_FOUND'],
  ])('answers DELETE %s with %i %s', async (path, status, error) => {
    expect(await api(stack.url, 'DELETE', path)).toMatchObject({ status, body: { error } });
  });
});

describe('commit sequences (issue 16 defect 5: a late commit attempt moved the offset back)', () => {
  it("refuses a client's timed-out commit attempt that arrives after a newer commit, and still takes a deliberate seek-back", async () => {
    const member = new ProtocolMember(stack.url, 'seq-1', 'm1', ['beta'], []);
    await member.beat();
    await member.beat();
    expect(member.owned).toEqual(['beta:0', 'beta:1']);
    // The first commit's first attempt "times out" in the client: it is held here and
    // delivered later, while the client's retry (same body) goes through.
    let held: { url: string; init: RequestInit } | undefined;
    const delaying: typeof fetch = async (input, init) => {
      if (held === undefined && init?.method === 'POST' && String(input).endsWith('/offsets')) {
        held = { url: String(input), init: { method: init.method, headers: init.headers, body: init.body } };
        throw new TypeError('fetch failed');
      }
      return fetch(input, init);
    };
    const transport = new Transport({ url: stack.url, fetch: delaying });
    const self: CommittingMember = { memberId: 'm1', memberEpoch: member.epoch, heartbeatNow: async () => {}, owns: () => true, holds: () => true };
    const offsets = new GroupOffsets(transport, resolveRetryOptions({ retries: 3, retryBackoffMs: 1 }), 'seq-1', () => self);

    await offsets.commit([{ topic: 'beta', partition: 0, offset: 10 }], 'owned');
    await offsets.commit([{ topic: 'beta', partition: 0, offset: 90 }], 'owned');
    const late = await fetch(held?.url as string, held?.init);

    expect(late.status).toBe(409);
    expect(((await late.json()) as { error: string }).error).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(await fetched('seq-1')).toEqual(['beta:0=90']);
    await offsets.commit([{ topic: 'beta', partition: 0, offset: 10 }], 'owned');
    expect(await fetched('seq-1')).toEqual(['beta:0=10']);
  });

  it('takes a repeat of the same sequence (a retried attempt) and refuses a lower one; a sequence needs a member', async () => {
    const member = new ProtocolMember(stack.url, 'seq-2', 'm1', ['alpha'], []);
    await member.beat();
    await member.beat();
    const body = (commitSequence: number, offset: number) => ({ memberId: 'm1', memberEpoch: member.epoch, commitSequence, offsets: [{ topic: 'alpha', partition: 2, offset }] });

    expect((await api(stack.url, 'POST', '/v1/groups/seq-2/offsets', body(7, 50))).status).toBe(200);
    expect((await api(stack.url, 'POST', '/v1/groups/seq-2/offsets', body(7, 50))).status).toBe(200);
    expect(await api(stack.url, 'POST', '/v1/groups/seq-2/offsets', body(6, 40))).toMatchObject({ status: 409, body: { error: 'OUT_OF_ORDER_SEQUENCE_NUMBER' } });
    expect(await api(stack.url, 'POST', '/v1/groups/seq-2/offsets', { commitSequence: 1, offsets: [{ topic: 'alpha', partition: 2, offset: 1 }] })).toMatchObject({ status: 400 });
    expect(await fetched('seq-2')).toEqual(['alpha:2=50']);
  });
});

describe('offset retention (offsets.retention.minutes, KIP-211)', () => {
  const short: RetentionOptions = { retentionMs: 10 * 60_000, refreshIntervalMs: 2 * 60_000, pageSize: 100 };

  it('stamps a committed offset with a TTL of retention + 2 × refresh (7 days + 24 h by default)', async () => {
    const before = Date.now();
    await adminCommit('ret-1', [{ topic: 'alpha', partition: 0, offset: 1 }]);
    const item = (await itemsUnder(offsetsPk('ret-1')))[0] as Record<string, number>;
    expect(OFFSETS.retentionMinutes).toBe(7 * 24 * 60);
    expect(item[TTL_ATTRIBUTE]).toBeGreaterThanOrEqual(offsetExpiresAt(before));
    expect(item[TTL_ATTRIBUTE]).toBeLessThanOrEqual(offsetExpiresAt(Date.now()));
    expect(offsetExpiresAt(0)).toBe((7 * 24 + 24) * 3600);
  });

  it('reads an offset past its TTL as absent before DynamoDB removes it, and deletes no group for it', async () => {
    await seedOffsets('ret-2', 'beta', 2, { [TTL_ATTRIBUTE]: Math.floor(Date.now() / 1000) - 1 });
    await seedOffsets('ret-2b', 'beta', 1, { [TTL_ATTRIBUTE]: Math.floor(Date.now() / 1000) + 3600 });

    expect(await fetched('ret-2')).toEqual([]);
    expect(await fetched('ret-2b')).toEqual(['beta:0=0']);
    expect((await api(stack.url, 'GET', '/v1/groups/ret-2')).body.error).toBe('GROUP_ID_NOT_FOUND');
    expect((await api(stack.url, 'DELETE', '/v1/groups/ret-2')).body.error).toBe('GROUP_ID_NOT_FOUND');
  });

  it("keeps a live group's idle offsets past the retention, then expires them between retention and retention + 2 × refresh after the group empties", async () => {
    const group = 'ret-3';
    let now = Date.now();
    const clock = () => now;
    let epoch = (await heartbeat(storage, group, { memberId: 'm', memberEpoch: 0, subscribedTopics: ['beta'] }, clock)).memberEpoch;
    epoch = (await heartbeat(storage, group, { memberId: 'm', memberEpoch: epoch }, clock)).memberEpoch;
    await commitOffsets(storage, group, { memberId: 'm', memberEpoch: epoch, offsets: [{ topic: 'beta', partition: 0, offset: 3 }, { topic: 'beta', partition: 1, offset: 4 }] }, clock, short);
    // 30 minutes of heartbeats every 30 s, no commits: three retention periods.
    for (let i = 0; i < 60; i++) {
      now += 30_000;
      epoch = (await heartbeat(storage, group, { memberId: 'm', memberEpoch: epoch }, clock)).memberEpoch;
      await keepOffsetsAlive(storage, group, now, short);
    }
    expect((await committedOffsets(storage, group, now)).map((o) => o.offset)).toEqual([3, 4]);
    await heartbeat(storage, group, { memberId: 'm', memberEpoch: -1 }, clock);
    const emptiedAt = now;

    expect((await committedOffsets(storage, group, emptiedAt + short.retentionMs - 1)).length).toBe(2);
    expect(await committedOffsets(storage, group, emptiedAt + short.retentionMs + 2 * short.refreshIntervalMs + 1000)).toEqual([]);
  });

  it('never revives an offset that expired before the refresh cycle began', async () => {
    const expiredAt = Math.floor(Date.now() / 1000) - 5;
    await seedOffsets('ret-4', 'alpha', 1, { [TTL_ATTRIBUTE]: expiredAt });
    await keepOffsetsAlive(storage, 'ret-4', Date.now(), short);
    const [item] = (await itemsUnder(offsetsPk('ret-4'))).filter((i) => i.sk !== RETENTION_SK);
    expect(item?.[TTL_ATTRIBUTE]).toBe(expiredAt);
    expect(await fetched('ret-4')).toEqual([]);
  });

  it('re-stamps a 1,000-offset group one page per heartbeat, then costs a steady heartbeat no request until the next cycle', async () => {
    const group = 'ret-5';
    const old = Math.floor(Date.now() / 1000) + 60;
    await seedOffsets(group, 'wide', 1000, { [TTL_ATTRIBUTE]: old });
    let requests = 0;
    const counted: Storage = { ...storage, ddb: { send: (command: never) => (requests++, storage.ddb.send(command)) } as unknown as Storage['ddb'] };

    const start = Date.now();
    let calls = 0;
    for (;;) {
      calls++;
      await keepOffsetsAlive(counted, group, start + calls, short);
      const marker = (await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk: offsetsPk(group), sk: RETENTION_SK }, ConsistentRead: true }))).Item;
      if (marker?.cursor === undefined) break;
    }
    const items = (await itemsUnder(offsetsPk(group))).filter((i) => i.sk !== RETENTION_SK);
    requests = 0;
    await keepOffsetsAlive(counted, group, start + short.refreshIntervalMs - 1, short);

    // 1,000 offsets and the marker, 100 items per call (+1 when the last page is exactly full).
    expect(calls).toBeGreaterThanOrEqual(10);
    expect(calls).toBeLessThanOrEqual(12);
    expect(items.length).toBe(1000);
    expect(items.every((i) => (i[TTL_ATTRIBUTE] as number) > old)).toBe(true);
    expect(requests).toBe(0);
  });
});

describe('the client, the kafkajs adapter and openapi', () => {
  it('admin.deleteGroups reports each group; admin.deleteOffsets deletes chosen partitions; kafkajs deleteConsumerGroupOffsets all of a topic', async () => {
    const admin = new Sluice({ url: stack.url }).admin();
    await admin.commitOffsets('cl-1', [0, 1, 2].map((partition) => ({ topic: 'alpha', partition, offset: 5 })).concat([{ topic: 'beta', partition: 0, offset: 5 }]));

    expect(await admin.deleteOffsets('cl-1', 'alpha', [0, 2])).toEqual({ topic: 'alpha', partitions: [0, 2] });
    const kafkaAdmin = new Kafka({ brokers: [stack.url] }).admin();
    await kafkaAdmin.deleteConsumerGroupOffsets({ groupId: 'cl-1', topic: 'beta' });
    expect(await fetched('cl-1')).toEqual(['alpha:1=5']);
    const results = await admin.deleteGroups(['cl-1', 'cl-never']);
    expect(results.map((r) => [r.group, r.error?.code])).toEqual([
      ['cl-1', undefined],
      ['cl-never', 'GROUP_ID_NOT_FOUND'],
    ]);
  });
});
