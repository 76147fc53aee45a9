import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';

// Produce racing a topic delete and re-create, across 3 isolated instances of each
// function: a produce instance can hold the dead incarnation (its topic read, its known
// head) while another instance deletes and re-creates the name.
const INSTANCES = 3;

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({ instances: INSTANCES });
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

/** The current incarnation's records: value (its first 40 characters) by offset. */
async function readLog(topic: string): Promise<Map<number, string>> {
  const log = new Map<number, string>();
  for (let offset = 0; ; ) {
    const res = await api(stack.url, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxRecords=5000`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    for (const r of res.body.records as Array<{ offset: number; value: string }>) log.set(r.offset, r.value.slice(0, 40));
    if (res.body.nextOffset >= res.body.highWatermark) return log;
    offset = res.body.nextOffset;
  }
}

describe(`produce racing a topic delete and re-create, ${INSTANCES} instances`, () => {
  // A client cannot tell whether an append that overlapped the delete was ordered before it
  // (and legitimately deleted) or after it. It can tell an append that was committed to
  // neither log: before the delete, the old log held offsets 0..P-1 and grew densely from
  // P; after it, the new log is readable. An acknowledgement at an offset below P that the
  // new log does not hold at that offset, or at an offset two lost acknowledgements share,
  // went to a dead incarnation after its delete: acknowledged, and lost.
  it('acknowledges no append it then loses: every acknowledgement is in the old log before the delete or readable in the new one (6 rounds, 6 producers, 32 KiB values)', async () => {
    const padding = 'x'.repeat(32 * 1024);
    expect((await api(stack.url, 'POST', '/v1/topics', { name: 'reborn', partitions: 1 })).status).toBe(201);
    expect((await api(stack.url, 'POST', '/v1/topics/reborn/records', { records: [{ value: 'seed', partition: 0 }] })).status).toBe(200);
    const lost: string[] = [];
    let before = await readLog('reborn');
    for (let round = 0; round < 6; round++) {
      let producing = true;
      const acked: Array<{ offset: number; value: string }> = [];
      const producers = Array.from({ length: 6 }, async (_, p) => {
        for (let i = 0; producing; i++) {
          const value = `r${round}-p${p}-${i}`.padEnd(40, '.');
          const res = await api(stack.url, 'POST', '/v1/topics/reborn/records', { records: [{ value: value + padding, partition: 0 }] });
          // Refusals (the topic is gone for a moment) are fine; only acknowledgements count.
          if (res.status === 200) acked.push({ offset: res.body.offsets[0].offset, value });
        }
      });
      await new Promise((r) => setTimeout(r, 150));
      expect((await api(stack.url, 'DELETE', '/v1/topics/reborn')).status).toBe(204);
      expect((await api(stack.url, 'POST', '/v1/topics', { name: 'reborn', partitions: 1 })).status).toBe(201);
      await new Promise((r) => setTimeout(r, 250));
      producing = false;
      await Promise.all(producers);
      const after = await readLog('reborn');
      const unreadable = acked.filter((a) => after.get(a.offset) !== a.value);
      const offsets = unreadable.map((a) => a.offset);
      for (const a of unreadable) {
        if (a.offset < before.size || offsets.indexOf(a.offset) !== offsets.lastIndexOf(a.offset)) lost.push(`round ${round}: ${a.value.replace(/\.+$/, '')} at offset ${a.offset} (the old log held ${before.size})`);
      }
      before = after;
    }
    expect(lost, 'acknowledged appends that went to a deleted incarnation').toEqual([]);
  }, 180_000);
});
