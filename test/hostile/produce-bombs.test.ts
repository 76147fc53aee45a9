import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { compress, type Compression } from '../../lib/codec/compression.ts';
import { BATCHES_MEDIA_TYPE, encodeFrames } from '../../lib/codec/framing.ts';
import { DECODE_BUDGET } from '../../lib/config/defaults.ts';
import { api, startTestStack } from '../support/stack.ts';
import { bombBatch, expectContained, MIB, rawBatch, send, underAttack, zeroRecord } from './attack.ts';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
  await api(stack.url, 'POST', '/v1/topics', { name: 'bombs', partitions: 1 });
  await api(stack.url, 'POST', '/v1/topics/bombs/records', { records: [{ key: 'k', value: 'before' }] });
});
afterAll(async () => {
  await stack?.close();
});

function produceBinary(body: Buffer): ReturnType<typeof send> {
  return send(`${stack.url}/v1/topics/bombs/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body });
}

describe('a decompression bomb across many frames', () => {
  it.each<[Compression, number]>([
    ['zstd', 40],
    ['gzip', 40],
  ])('refuses 40 %s frames of 64 MiB each with 413 within seconds, health answering throughout', async (codec, frames) => {
    // Each frame is a valid one-record batch that inflates to 64 MiB: only the sum is hostile.
    const batch = await bombBatch(codec, 64 * MIB - 64);
    const body = encodeFrames(Array.from({ length: frames }, () => ({ partition: 0, batch })));
    expect(body.length).toBeLessThan(4 * MIB);
    const report = await underAttack(stack, () => produceBinary(body));
    // Unloaded this takes well under a second; the bound leaves room for a busy CI machine.
    expectContained(report, 413, ['MESSAGE_TOO_LARGE'], { ms: 5_000, rssBytes: 768 * MIB });
    expect(report.answer.message).toMatch(/decoding budget/);
  });

  it('still accepts one request that inflates to just under the per-request budget', async () => {
    const batch = await bombBatch('zstd', DECODE_BUDGET.maxInflatedBytes / 2 - 64);
    const res = await produceBinary(encodeFrames([{ partition: 0, batch }, { partition: 0, batch }]));
    expect(res.status, res.message).toBe(200);
  });
});

describe('a record-count bomb', () => {
  /** 64 MiB of the smallest records (7 bytes each), all with offset delta 0: the lie is at record 1. */
  async function countBomb(count: number): Promise<Buffer> {
    const one = zeroRecord(0);
    const payload = Buffer.alloc(one.length * count);
    for (let at = 0; at < payload.length; at += one.length) one.copy(payload, at);
    return rawBatch({ compression: 'zstd', recordCount: count, lastOffsetDelta: count - 1, records: await compress('zstd', payload) });
  }

  it('refuses a 9.6 M-record batch (a few KB sent) before building any record, in flat memory', async () => {
    const batch = await countBomb(Math.floor((64 * MIB - 64) / 7));
    expect(batch.length).toBeLessThan(64 * 1024);
    const report = await underAttack(stack, () => produceBinary(encodeFrames([{ partition: 0, batch }])));
    expectContained(report, 413, ['MESSAGE_TOO_LARGE'], { ms: 3_000, rssBytes: 256 * MIB });
  });

  it('rejects a 900,000-record batch at its first lying offset delta, without walking the rest', async () => {
    const batch = await countBomb(900_000);
    const report = await underAttack(stack, () => produceBinary(encodeFrames([{ partition: 0, batch }])));
    expectContained(report, 400, ['INVALID_RECORD'], { ms: 3_000, rssBytes: 256 * MIB });
    expect(report.answer.message).toMatch(/record 1 has offset delta 0/);
  });
});
