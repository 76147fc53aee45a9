import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { LOCAL_COMPACT_FUNCTION } from '../../local/stack.ts';
import { ProtocolMember, overlaps, type Ownership } from '../support/group-member.ts';
import { api, startTestStack } from '../support/stack.ts';

// Each per-instance cache, driven into disagreement: one instance has cached, another
// changes the state, and the invariants still hold. Requests are pinned to instances with
// the local gateway's x-sluice-instance header.
const on = (instance: number) => ({ 'x-sluice-instance': String(instance) });

let stack: LocalStack;
beforeAll(async () => {
  // Objects that merging replaces are deleted on the next compaction, not 5 minutes later:
  // an instance's cached copy of them then outlives the object itself.
  process.env.SLUICE_DELETE_GRACE_MS = '0';
  stack = await startTestStack({ instances: 2 });
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

async function read(topic: string, instance: number, offset = 0): Promise<{ status: number; body: any }> {
  return api(stack.url, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxRecords=1000`, undefined, on(instance));
}

async function produceOn(instance: number, topic: string, value: string): Promise<number> {
  const res = await api(stack.url, 'POST', `/v1/topics/${topic}/records`, { records: [{ value, partition: 0 }] }, on(instance));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.offsets[0].offset;
}

describe('per-instance caches in disagreement', () => {
  it("sequencer's known heads: an instance whose cached head is 3 appends behind still assigns the next offset, never a taken one", { timeout: 120_000 }, async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'heads', partitions: 1 });
    const offsets = [await produceOn(0, 'heads', 'a')];
    // Instance 1 moves the head on; instance 0 still believes it is at 1.
    for (const value of ['b', 'c', 'd']) offsets.push(await produceOn(1, 'heads', value));
    offsets.push(await produceOn(0, 'heads', 'e'));
    expect(offsets).toEqual([0, 1, 2, 3, 4]);
    const fetched = await read('heads', 1);
    expect(fetched.body.records.map((r: { offset: number; value: string }) => `${r.offset}:${r.value}`)).toEqual(['0:a', '1:b', '2:c', '3:d', '4:e']);
  });

  it('segment cache: an instance holding the bytes of merged-away and deleted objects serves what the index names now, as a cold instance does', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'cached', partitions: 1 });
    for (let i = 0; i < 12; i++) await produceOn(i % 2, 'cached', `v${i}`);
    const warm = await read('cached', 0);
    expect(warm.body.records).toHaveLength(12);
    const invoke = () => fetch(`${stack.url}/2015-03-31/functions/${LOCAL_COMPACT_FUNCTION}/invocations`, { method: 'POST', body: JSON.stringify({ topic: 'cached', partition: 0 }) });
    // The first pass merges; the second deletes the merged-away objects (grace 0).
    expect((await invoke()).status).toBe(200);
    expect((await invoke()).status).toBe(200);
    const listed = await stack.storage.s3.send(new ListObjectsV2Command({ Bucket: stack.storage.env.bucketName, Prefix: 'data/cached/' }));
    expect(listed.Contents?.length, 'the 12 original objects are gone').toBeLessThan(12);
    const [fromWarm, fromCold] = [await read('cached', 0), await read('cached', 1)];
    expect(fromWarm.body).toEqual(fromCold.body);
    expect(fromWarm.body.records.map((r: { value: string }) => r.value)).toEqual(warm.body.records.map((r: { value: string }) => r.value));

    // DeleteRecords on another instance: the warm instance's cached bytes below the new start are not served.
    expect((await api(stack.url, 'POST', '/v1/topics/cached/partitions/0/delete-records', { offset: 5 }, on(1))).status).toBe(200);
    const below = await read('cached', 0, 0);
    expect(below.status).toBe(416);
    expect(below.body).toMatchObject({ error: 'OFFSET_OUT_OF_RANGE', logStartOffset: 5 });
    expect((await read('cached', 0, 5)).body.records.map((r: { offset: number }) => r.offset)).toEqual([5, 6, 7, 8, 9, 10, 11]);
  }, 120_000);

  it("groups' topic cache: with one instance still seeing 2 partitions and another 4, no partition has two owners, and all 4 are shared once the cache expires", async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'grown', partitions: 2 });
    const timeline: Ownership[] = [];
    const options = { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 100 };
    const a = new ProtocolMember(stack.url, 'grow', 'a', ['grown'], timeline, options);
    const b = new ProtocolMember(stack.url, 'grow', 'b', ['grown'], timeline, options);
    a.instance = 0;
    b.instance = 1;
    for (let i = 0; i < 3; i++) await a.beat();
    expect(a.owned).toEqual(['grown:0', 'grown:1']);
    // Instance 0 has cached 2 partitions; instance 1 has not read the topic yet.
    expect((await api(stack.url, 'PATCH', '/v1/topics/grown', { partitions: 4 }, on(1))).status).toBe(200);
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      await a.beat();
      await b.beat();
    }
    for (let i = 0; i < 6; i++) {
      await a.beat();
      await b.beat();
    }
    expect(overlaps(timeline)).toEqual([]);
    expect([...a.owned, ...b.owned].sort()).toEqual(['grown:0', 'grown:1', 'grown:2', 'grown:3']);
  }, 60_000);
});
