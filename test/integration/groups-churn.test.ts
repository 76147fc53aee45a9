import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { isLive } from '../../lib/groups/reconcile.ts';
import { readGroup } from '../../lib/groups/store.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
  await api(stack.url, 'POST', '/v1/topics', { name: 'churn-a', partitions: 4 });
  await api(stack.url, 'POST', '/v1/topics', { name: 'churn-b', partitions: 3 });
});
afterAll(async () => {
  await stack?.close();
});

const GROUP = 'churn';
const TOPICS = ['churn-a', 'churn-b'];
const ALL = [...[0, 1, 2, 3].map((p) => `churn-a:${p}`), ...[0, 1, 2].map((p) => `churn-b:${p}`)];
const TIMING = { sessionTimeoutMs: 1500, heartbeatIntervalMs: 100, rebalanceTimeoutMs: 1000 };

/** A small seeded generator (mulberry32), so a failing run can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Mode = 'active' | 'stalled' | 'crashed' | 'out';
interface Sim {
  id: string;
  mode: Mode;
  epoch: number;
  /** What it believes it owns (reported in each heartbeat). */
  owned: string[];
  /** Its epoch and partitions when it last crashed: what a zombie of it would send. */
  former?: { epoch: number; owned: string[]; crashedAtMs: number };
}

function grouped(keys: string[]): Array<{ topic: string; partitions: number[] }> {
  return TOPICS.map((topic) => ({ topic, partitions: keys.filter((k) => k.startsWith(`${topic}:`)).map((k) => Number(k.split(':')[1])) })).filter((t) => t.partitions.length > 0);
}

describe('consumer group under churn', () => {
  it('keeps one owner per partition, refuses every fenced or foreign commit, never moves an offset back, and converges: 6 members, 2 topics, ~25 s of random joins, leaves, crashes, stalls and commits', async () => {
    const seed = Number(process.env.CHURN_SEED ?? 20261130);
    const random = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const sims: Sim[] = Array.from({ length: 6 }, (_, i) => ({ id: `m${i}`, mode: 'out', epoch: 0, owned: [] }));
    const highest = new Map<string, number>();
    let nextOffset = 1;
    const violations: string[] = [];
    const stats = { accepted: 0, refused: 0, fenced: 0, rejoins: 0 };

    async function beat(s: Sim): Promise<void> {
      const joining = s.epoch === 0;
      const res = await api(stack.url, 'POST', `/v1/groups/${GROUP}/heartbeat`, joining ? { memberId: s.id, memberEpoch: 0, subscribedTopics: TOPICS, ...TIMING } : { memberId: s.id, memberEpoch: s.epoch, ownedPartitions: grouped(s.owned) });
      if (res.status === 200) {
        s.epoch = res.body.memberEpoch;
        const assigned = res.body.assignment.flatMap((t: { topic: string; partitions: number[] }) => t.partitions.map((p) => `${t.topic}:${p}`));
        // A stalled member takes what it is given but cannot let go of what is revoked.
        s.owned = s.mode === 'stalled' ? [...new Set([...s.owned, ...assigned])] : assigned;
      } else if (['UNKNOWN_MEMBER_ID', 'FENCED_MEMBER_EPOCH'].includes(res.body.error)) {
        if (res.body.error === 'FENCED_MEMBER_EPOCH') stats.fenced++;
        s.epoch = 0;
        s.owned = [];
      } else if (res.status !== 429) {
        violations.push(`heartbeat of ${s.id}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }

    /** Commits one partition; the outcome must match what the group's state allows at that moment. */
    async function commit(s: Sim, partitionKey: string, offset: number, epoch = Math.max(1, s.epoch)): Promise<void> {
      const read = await readGroup(stack.storage, GROUP);
      const m = read.members.find((x) => x.memberId === s.id);
      const allowed = m !== undefined && isLive(m, Date.now()) && m.memberEpoch === epoch && [...m.assigned, ...m.revoking].includes(partitionKey);
      const [topic, p] = partitionKey.split(':') as [string, string];
      const res = await api(stack.url, 'POST', `/v1/groups/${GROUP}/offsets`, { memberId: s.id, memberEpoch: epoch, offsets: [{ topic, partition: Number(p), offset }] });
      stats[res.status === 200 ? 'accepted' : 'refused']++;
      // Nothing else writes meanwhile: only time passes, which can end a lease, never grant one.
      if (res.status === 200 && !allowed) violations.push(`accepted a commit the group refuses: ${s.id}@${s.epoch} ${partitionKey}`);
      if (res.status !== 200 && allowed && !(m !== undefined && m.expiresAtMs < Date.now())) violations.push(`refused a commit the group allows: ${s.id}@${s.epoch} ${partitionKey} ${JSON.stringify(res.body)}`);
    }

    async function checkState(): Promise<void> {
      const read = await readGroup(stack.storage, GROUP);
      const holders = new Map<string, string>();
      for (const m of read.members.filter((x) => isLive(x, Date.now()))) {
        for (const k of [...m.assigned, ...m.revoking]) {
          const other = holders.get(k);
          if (other !== undefined) violations.push(`${k} held by ${other} and ${m.memberId}`);
          holders.set(k, m.memberId);
        }
      }
      const offsets = await api(stack.url, 'GET', `/v1/groups/${GROUP}/offsets`);
      for (const o of offsets.body.offsets as Array<{ topic: string; partition: number; offset: number }>) {
        const k = `${o.topic}:${o.partition}`;
        if (o.offset < (highest.get(k) ?? 0)) violations.push(`${k} went back from ${highest.get(k)} to ${o.offset}`);
        highest.set(k, Math.max(highest.get(k) ?? 0, o.offset));
      }
    }

    const until = Date.now() + 25_000;
    while (Date.now() < until) {
      const s = pick(sims);
      const roll = random();
      if (s.mode === 'out' || s.mode === 'crashed') {
        if (roll < 0.3) {
          // (Re)join under the same id: earlier incarnations must stay fenced.
          if (s.mode === 'crashed') stats.rejoins++;
          s.mode = 'active';
          s.epoch = 0;
          s.owned = [];
          await beat(s);
        } else if (s.former !== undefined && s.former.owned.length > 0 && Date.now() > s.former.crashedAtMs + TIMING.sessionTimeoutMs + 100 && roll < 0.8) {
          // A zombie: a commit delayed from before the crash, with an old offset, arriving
          // after the session expired (or the id rejoined): it must not move anything back.
          await commit(s, pick(s.former.owned), Math.max(0, nextOffset - 50), s.former.epoch);
        }
      } else if (roll < 0.04) {
        await api(stack.url, 'POST', `/v1/groups/${GROUP}/heartbeat`, { memberId: s.id, memberEpoch: -1 });
        Object.assign(s, { mode: 'out', epoch: 0, owned: [] });
      } else if (roll < 0.08) {
        s.mode = 'crashed';
        if (s.epoch > 0) s.former = { epoch: s.epoch, owned: [...s.owned], crashedAtMs: Date.now() };
      } else if (roll < 0.2 && s.mode === 'active') {
        s.mode = 'stalled';
      } else if (roll < 0.3 && s.mode === 'stalled') {
        s.mode = 'active';
      } else if (roll < 0.6 && s.owned.length > 0) {
        await commit(s, pick(s.owned), nextOffset++);
      } else if (roll < 0.75) {
        // A foreign commit: a partition it does not believe it owns.
        const foreign = ALL.filter((k) => !s.owned.includes(k));
        if (foreign.length > 0 && s.epoch > 0) await commit(s, pick(foreign), nextOffset++);
      }
      // Every live member heartbeats on its interval.
      for (const m of sims) if (m.mode === 'active' || m.mode === 'stalled') await beat(m);
      await checkState();
    }

    // Churn stops: the stalled recover, the rest heartbeat until the group settles.
    for (const s of sims) if (s.mode === 'stalled') s.mode = 'active';
    const live = () => sims.filter((s) => s.mode === 'active');
    if (live().length === 0) Object.assign(sims[0]!, { mode: 'active', epoch: 0, owned: [] });
    // Settled: Stable with the live members alone. A member that crashed just before the churn
    // stopped still counts, and may be at its target (Stable), until its session times out.
    let described: { state: string; members?: Array<{ memberId: string }> } = { state: '' };
    const settled = () => described.state === 'Stable' && (described.members ?? []).every((m) => live().some((s) => s.id === m.memberId));
    for (let round = 0; round < 100 && !settled(); round++) {
      for (const s of live()) await beat(s);
      await checkState();
      described = (await api(stack.url, 'GET', `/v1/groups/${GROUP}`)).body;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(violations, `seed ${seed}`).toEqual([]);
    // The churn did what it is for: commits both ways, members fenced and rejoining.
    expect(stats.accepted, JSON.stringify(stats)).toBeGreaterThanOrEqual(5);
    expect(stats.refused, JSON.stringify(stats)).toBeGreaterThanOrEqual(1);
    expect(stats.fenced + stats.rejoins, JSON.stringify(stats)).toBeGreaterThanOrEqual(1);
    expect(described.state).toBe('Stable');
    const owned = live().flatMap((s) => s.owned);
    expect(owned.sort()).toEqual([...ALL].sort());
    const counts = live().map((s) => s.owned.length);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  }, 90_000);
});
