import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';
import { ProtocolMember, overlaps, type Ownership } from '../support/group-member.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
  await api(stack.url, 'POST', '/v1/topics', { name: 'orders', partitions: 6 });
});
afterAll(async () => {
  await stack?.close();
});

/** Heartbeats every member in turn until nobody's assignment changes for a full round. */
async function settle(members: ProtocolMember[], rounds = 30): Promise<void> {
  let quiet = 0;
  for (let i = 0; i < rounds && quiet < 2; i++) {
    const before = members.map((m) => m.owned.join(','));
    for (const m of members) await m.beat();
    quiet = members.every((m, j) => m.owned.join(',') === before[j]) ? quiet + 1 : 0;
  }
}

function ownedCounts(members: ProtocolMember[]): number[] {
  return members.map((m) => m.owned.length).sort();
}

describe('consumer group membership (KIP-848 heartbeats)', () => {
  it('gives each of 6 partitions to exactly one of 3 members, lets a 4th take a share, and never has two owners at once', async () => {
    const timeline: Ownership[] = [];
    const members = ['a', 'b', 'c'].map((id) => new ProtocolMember(stack.url, 'g1', id, ['orders'], timeline));
    await settle(members);
    expect(ownedCounts(members)).toEqual([2, 2, 2]);
    expect(new Set(members.flatMap((m) => m.owned)).size).toBe(6);

    const d = new ProtocolMember(stack.url, 'g1', 'd', ['orders'], timeline);
    members.push(d);
    await settle(members);
    expect(ownedCounts(members)).toEqual([1, 1, 2, 2]);
    expect(new Set(members.flatMap((m) => m.owned)).size).toBe(6);
    expect(overlaps(timeline)).toEqual([]);

    const described = await api(stack.url, 'GET', '/v1/groups/g1');
    expect(described.body).toMatchObject({ group: 'g1', state: 'Stable' });
    expect(described.body.members).toHaveLength(4);
    for (const m of members) await m.leave();
    expect((await api(stack.url, 'GET', '/v1/groups/g1')).body.state).toBe('Empty');
  });

  it("moves a crashed member's partitions only after its session times out", async () => {
    const timeline: Ownership[] = [];
    const options = { sessionTimeoutMs: 1500, heartbeatIntervalMs: 200 };
    const members = ['a', 'b', 'c'].map((id) => new ProtocolMember(stack.url, 'g2', id, ['orders'], timeline, options));
    await settle(members);
    const [victim, ...survivors] = members as [ProtocolMember, ...ProtocolMember[]];
    const lost = victim.owned;
    victim.crash();
    const crashedAt = Date.now();
    // Before the timeout the survivors get nothing of the victim's.
    await settle(survivors, 3);
    expect(survivors.flatMap((m) => m.owned).filter((p) => lost.includes(p))).toEqual([]);
    // The survivors keep heartbeating while the victim's lease runs out.
    while (Date.now() - crashedAt < 1700) {
      for (const m of survivors) await m.beat();
      await new Promise((r) => setTimeout(r, 150));
    }
    await settle(survivors);
    expect(survivors.flatMap((m) => m.owned).sort()).toEqual(Array.from({ length: 6 }, (_, p) => `orders:${p}`).sort());
    expect(overlaps(timeline)).toEqual([]);
    // The crashed member is fenced when it comes back with its old epoch.
    await expect(victim.beat()).rejects.toMatchObject({ body: { error: 'UNKNOWN_MEMBER_ID' } });
  });

  it('fences a member that presents an old epoch', async () => {
    const m = new ProtocolMember(stack.url, 'g3', 'solo', ['orders'], []);
    await m.beat();
    const res = await api(stack.url, 'POST', '/v1/groups/g3/heartbeat', { memberId: 'solo', memberEpoch: m.epoch + 5, subscribedTopics: ['orders'] });
    expect(res).toMatchObject({ status: 409, body: { error: 'FENCED_MEMBER_EPOCH' } });
    const unknown = await api(stack.url, 'POST', '/v1/groups/g3/heartbeat', { memberId: 'nobody', memberEpoch: 3 });
    expect(unknown).toMatchObject({ status: 404, body: { error: 'UNKNOWN_MEMBER_ID' } });
  });
});

describe('committed offsets', () => {
  it("rejects a fenced or stale member's commit and accepts the owner's", async () => {
    const timeline: Ownership[] = [];
    const a = new ProtocolMember(stack.url, 'g4', 'a', ['orders'], timeline);
    await settle([a]);
    const [first] = a.owned;
    const partition = Number(first!.split(':')[1]);
    const ok = await api(stack.url, 'POST', '/v1/groups/g4/offsets', { memberId: 'a', memberEpoch: a.epoch, offsets: [{ topic: 'orders', partition, offset: 0 }] });
    expect(ok.status).toBe(200);
    const epochBefore = a.epoch;
    const b = new ProtocolMember(stack.url, 'g4', 'b', ['orders'], timeline);
    await settle([a, b]);
    expect(a.epoch).toBeGreaterThan(epochBefore);
    const stale = await api(stack.url, 'POST', '/v1/groups/g4/offsets', { memberId: 'a', memberEpoch: epochBefore, offsets: [{ topic: 'orders', partition: Number(a.owned[0]!.split(':')[1]), offset: 5 }] });
    expect(stale).toMatchObject({ status: 409, body: { error: 'STALE_MEMBER_EPOCH' } });
    const notMine = b.owned.map((k) => Number(k.split(':')[1]))[0]!;
    const foreign = await api(stack.url, 'POST', '/v1/groups/g4/offsets', { memberId: 'a', memberEpoch: a.epoch, offsets: [{ topic: 'orders', partition: notMine, offset: 9 }] });
    expect(foreign).toMatchObject({ status: 409, body: { error: 'STALE_MEMBER_EPOCH' } });
    const ghost = await api(stack.url, 'POST', '/v1/groups/g4/offsets', { memberId: 'ghost', memberEpoch: 1, offsets: [{ topic: 'orders', partition, offset: 9 }] });
    expect(ghost).toMatchObject({ status: 404, body: { error: 'UNKNOWN_MEMBER_ID' } });
    const standalone = await api(stack.url, 'POST', '/v1/groups/g4/offsets', { offsets: [{ topic: 'orders', partition, offset: 9 }] });
    expect(standalone).toMatchObject({ status: 404, body: { error: 'UNKNOWN_MEMBER_ID' } });
    // None of the rejected commits changed anything.
    const offsets = await api(stack.url, 'GET', '/v1/groups/g4/offsets');
    expect(offsets.body.offsets.map((o: { partition: number; offset: number }) => [o.partition, o.offset])).toEqual([[partition, 0]]);
    const reset = await api(stack.url, 'POST', '/v1/groups/g4/offsets/reset', { topic: 'orders', to: 'earliest' });
    expect(reset).toMatchObject({ status: 409, body: { error: 'NON_EMPTY_GROUP' } });
  });

  it('takes standalone commits and resets only while the group is empty, and reports lag', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'ledger', partitions: 2 });
    await api(stack.url, 'POST', '/v1/topics/ledger/records', { records: [0, 1, 2, 3, 4].map((i) => ({ value: `v${i}`, partition: 0, timestamp: 1000 * (i + 1) })) });
    expect((await api(stack.url, 'POST', '/v1/groups/solo/offsets', { offsets: [{ topic: 'ledger', partition: 0, offset: 2, metadata: 'x' }] })).status).toBe(200);
    let described = await api(stack.url, 'GET', '/v1/groups/solo');
    expect(described.body.state).toBe('Empty');
    expect(described.body.partitions).toEqual([
      { topic: 'ledger', partition: 0, owner: null, pendingOwner: null, committedOffset: 2, highWatermark: 5, lag: 3 },
      { topic: 'ledger', partition: 1, owner: null, pendingOwner: null, committedOffset: null, highWatermark: 0, lag: null },
    ]);
    for (const [body, expected] of [
      [{ to: 'latest' }, [5, 0]],
      [{ to: 'earliest' }, [0, 0]],
      [{ offset: 3 }, [3, 0]],
      [{ offset: 99 }, [5, 0]],
      [{ timestamp: 2500 }, [2, 0]],
    ] as const) {
      const res = await api(stack.url, 'POST', '/v1/groups/solo/offsets/reset', { topic: 'ledger', ...body });
      expect(res.body.offsets.map((o: { offset: number }) => o.offset), JSON.stringify(body)).toEqual(expected);
    }
    described = await api(stack.url, 'GET', '/v1/groups/solo');
    expect(described.body.partitions[0]).toMatchObject({ committedOffset: 2, lag: 3 });
    expect((await api(stack.url, 'GET', '/v1/groups')).body.groups).toContainEqual({ group: 'solo' });
    expect((await api(stack.url, 'GET', '/v1/groups/never-seen')).status).toBe(404);
  });
});

describe('at-least-once processing with commit-after-processing', () => {
  it("lets a killed consumer's replacement resume from the last commit: every record processed, none skipped", async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'jobs', partitions: 2 });
    const total = 200;
    await api(stack.url, 'POST', '/v1/topics/jobs/records', { records: Array.from({ length: total }, (_, i) => ({ key: `k${i}`, value: `job-${i}` })) });
    const processed: string[] = [];
    const options = { sessionTimeoutMs: 1200, heartbeatIntervalMs: 200 };

    /** Consumes its partitions from the committed offset, committing after each processed batch; stops after `limit` records. */
    async function consume(member: ProtocolMember, limit: number): Promise<number> {
      let done = 0;
      const committed = async () => Object.fromEntries((await api(stack.url, 'GET', '/v1/groups/workers/offsets')).body.offsets.map((o: { partition: number; offset: number }) => [o.partition, o.offset]));
      for (let round = 0; round < 50 && done < limit; round++) {
        await member.beat();
        const positions = await committed();
        let progressed = false;
        for (const key of member.owned) {
          const partition = Number(key.split(':')[1]);
          const res = await api(stack.url, 'GET', `/v1/topics/jobs/partitions/${partition}/records?offset=${positions[partition] ?? 0}&maxRecords=${Math.min(25, limit - done)}`);
          if (res.body.records.length === 0) continue;
          processed.push(...res.body.records.map((r: { value: string }) => r.value));
          done += res.body.records.length;
          progressed = true;
          if (done >= limit) return done; // killed after processing, before committing
          const commit = await api(stack.url, 'POST', '/v1/groups/workers/offsets', { memberId: member.id, memberEpoch: member.epoch, offsets: [{ topic: 'jobs', partition, offset: res.body.nextOffset }] });
          expect(commit.status, JSON.stringify(commit.body)).toBe(200);
        }
        if (!progressed && done > 0) break;
      }
      return done;
    }

    const first = new ProtocolMember(stack.url, 'workers', 'first', ['jobs'], [], options);
    await consume(first, 120);
    first.crash();
    await new Promise((r) => setTimeout(r, 1400));
    const second = new ProtocolMember(stack.url, 'workers', 'second', ['jobs'], [], options);
    await consume(second, total);
    const unique = new Set(processed);
    expect(unique.size).toBe(total);
    // At least once: the records processed but not committed before the kill came again.
    expect(processed.length).toBeGreaterThan(total);
  });
});

describe('revocation', () => {
  it('accepts the commit of a partition being revoked until its owner reports it released, and not after', async () => {
    const timeline: Ownership[] = [];
    const a = new ProtocolMember(stack.url, 'g5', 'a', ['orders'], timeline);
    await settle([a]);
    const b = new ProtocolMember(stack.url, 'g5', 'b', ['orders'], timeline);
    await b.beat();
    // a's next heartbeat tells it to give up some partitions; it commits them before reporting the release.
    // (A revocation keeps the member's epoch: it moves on once the release is reported.)
    const commits: number[] = [];
    const epochBefore = a.epoch;
    await a.beat(async (key) => {
      const partition = Number(key.split(':')[1]);
      const res = await api(stack.url, 'POST', '/v1/groups/g5/offsets', { memberId: 'a', memberEpoch: epochBefore, offsets: [{ topic: 'orders', partition, offset: 7 }] });
      commits.push(res.status);
    });
    expect(commits.length).toBeGreaterThan(0);
    expect(commits.every((s) => s === 200)).toBe(true);
    expect(a.epoch).toBe(epochBefore);
    const released = timeline.find((o) => o.member === 'a' && o.toMs !== null)!;
    const partition = Number(released.partition.split(':')[1]);
    await a.beat(); // reports the release
    const late = await api(stack.url, 'POST', '/v1/groups/g5/offsets', { memberId: 'a', memberEpoch: a.epoch, offsets: [{ topic: 'orders', partition, offset: 8 }] });
    expect(late).toMatchObject({ status: 409, body: { error: 'STALE_MEMBER_EPOCH' } });
  });
});
