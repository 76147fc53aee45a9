import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { LOCAL_COMPACT_FUNCTION } from '../../local/stack.ts';
import { ProtocolMember, overlaps, type Ownership } from '../support/group-member.ts';
import { api, startTestStack } from '../support/stack.ts';

// Every race here runs against 3 isolated instances of each function, as Lambda runs
// several: each instance has its own known heads, segment cache and topic cache.
const INSTANCES = 3;

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({ instances: INSTANCES });
  await stack.warm();
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

type FetchedRecord = { offset: number; value: string };

async function readAll(topic: string, partition: number, from = 0): Promise<FetchedRecord[]> {
  const records: FetchedRecord[] = [];
  for (let offset = from; ; ) {
    const res = await api(stack.url, 'GET', `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxRecords=5000`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    records.push(...res.body.records);
    if (res.body.nextOffset >= res.body.highWatermark) return records;
    offset = res.body.nextOffset;
  }
}

/** Produces, retrying only answers that say a retry can succeed. */
async function produce(topic: string, records: Array<{ value: string; partition: number }>): Promise<void> {
  for (;;) {
    const res = await api(stack.url, 'POST', `/v1/topics/${topic}/records`, { records });
    if (res.status === 200) return;
    expect(res.body.retriable, JSON.stringify(res.body)).toBe(true);
  }
}

/** The Lambda Invoke API of the local stack: one compaction of one partition, on any instance. */
async function compact(topic: string, partition: number): Promise<void> {
  const res = await fetch(`${stack.url}/2015-03-31/functions/${LOCAL_COMPACT_FUNCTION}/invocations`, { method: 'POST', body: JSON.stringify({ topic, partition }) });
  expect(res.status).toBe(200);
}

describe(`races across ${INSTANCES} instances of each function`, () => {
  it(`gives 6 concurrent producers × 400 records on 2 partitions dense offsets, each record once, each producer in order`, async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'contended', partitions: 2 });
    const producers = 6;
    const perProducer = 400;
    const perRequest = 20;
    await Promise.all(
      Array.from({ length: producers }, async (_, p) => {
        for (let start = 0; start < perProducer; start += perRequest) {
          await produce('contended', Array.from({ length: perRequest }, (_, i) => ({ value: `${p}:${start + i}`, partition: p % 2 })));
        }
      }),
    );
    for (const partition of [0, 1]) {
      const records = await readAll('contended', partition);
      const expected = (producers / 2) * perProducer;
      expect(records.map((r) => r.offset)).toEqual(Array.from({ length: expected }, (_, i) => i));
      expect(new Set(records.map((r) => r.value)).size).toBe(expected);
      for (let p = partition; p < producers; p += 2) {
        expect(records.filter((r) => r.value.startsWith(`${p}:`)).map((r) => Number(r.value.split(':')[1]))).toEqual(Array.from({ length: perProducer }, (_, i) => i));
      }
    }
  }, 120_000);

  it('serves every fetch whole and in order while compaction merges the partition under it (120 one-record segments)', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'merging', partitions: 1 });
    const total = 120;
    for (let i = 0; i < total; i += 24) await Promise.all(Array.from({ length: 24 }, (_, j) => produce('merging', [{ value: `v${i + j}`, partition: 0 }])));
    const expected = (await readAll('merging', 0)).map((r) => r.value);
    expect(expected).toHaveLength(total);

    let merging = true;
    const compactions = (async () => {
      for (let i = 0; i < 4; i++) await compact('merging', 0);
      merging = false;
    })();
    // Readers from random offsets, each request on whichever fetch instance is next.
    const readers = Array.from({ length: 4 }, async (_, r) => {
      let reads = 0;
      while (merging || reads < 3) {
        const from = (r * 37 + reads * 53) % total;
        const got = await readAll('merging', 0, from);
        expect(got.map((x) => x.offset)).toEqual(Array.from({ length: total - from }, (_, i) => from + i));
        expect(got.map((x) => x.value)).toEqual(expected.slice(from));
        reads++;
      }
      return reads;
    });
    await compactions;
    expect((await Promise.all(readers)).every((n) => n >= 3)).toBe(true);
    const describe = await api(stack.url, 'GET', '/v1/topics/merging');
    expect(describe.body.partitions[0].segments, 'compaction merged the segments').toBeLessThan(total / 4);
  }, 120_000);

  it('never gives a partition to two members at once under churn: joins, leaves, crashes and a partition-count raise', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'churned', partitions: 4 });
    const timeline: Ownership[] = [];
    const options = { sessionTimeoutMs: 1500, heartbeatIntervalMs: 100 };
    let next = 0;
    const join = () => new ProtocolMember(stack.url, 'churn', `m${next++}`, ['churned'], timeline, options);
    let live = [join(), join(), join()];
    const stopAt = Date.now() + 5_000;
    let raised = false;
    const beats = async (member: ProtocolMember) => {
      while (live.includes(member) && Date.now() < stopAt) {
        try {
          await member.beat();
        } catch (error) {
          // A member fenced or expired rejoins from scratch, as a client does.
          expect((error as { body?: { error?: string } }).body?.error).toMatch(/UNKNOWN_MEMBER_ID|FENCED_MEMBER_EPOCH|THROTTLING_QUOTA_EXCEEDED/);
          member.crash();
          member.epoch = 0;
          member.owned = [];
        }
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
      }
    };
    const running = live.map(beats);
    for (let round = 0; Date.now() < stopAt; round++) {
      await new Promise((r) => setTimeout(r, 400));
      if (!raised && Date.now() > stopAt - 3_000) {
        raised = true;
        // Each groups instance learns the new count when its topic cache expires: until then they disagree.
        expect((await api(stack.url, 'PATCH', '/v1/topics/churned', { partitions: 8 })).status).toBe(200);
      }
      const victim = live[round % live.length] as ProtocolMember;
      if (round % 3 === 0) {
        await victim.leave();
        live = live.filter((m) => m !== victim);
      } else if (round % 3 === 1) {
        victim.crash();
        live = live.filter((m) => m !== victim);
      }
      const fresh = join();
      live = [...live, fresh];
      running.push(beats(fresh));
    }
    await Promise.all(running);
    expect(overlaps(timeline)).toEqual([]);
    expect(new Set(timeline.map((o) => o.member)).size, 'partitions did change hands').toBeGreaterThan(3);
  }, 120_000);
});
