import { describe, expect, it } from 'vitest';
import { compress, decompress, type Compression } from '../../../lib/codec/compression.ts';
import { DecodeBudget, isBudgetExceeded } from '../../../lib/codec/decode-budget.ts';
import { encodeRecordBatch, openRecordBatch, validateProducerBatch } from '../../../lib/codec/record-batch.ts';
import { SluiceError } from '../../../lib/errors.ts';
import { nestsDeeperThan } from '../../../lib/http/json-depth.ts';

const limits = (maxInflatedBytes: number, maxRecords = 1_000) => ({ maxInflatedBytes, maxRecords, maxDecodeMs: 10_000 });

describe('DecodeBudget', () => {
  it.each<Compression>(['gzip', 'snappy', 'lz4', 'zstd'])('stops %s decompression at what the call has left, as MESSAGE_TOO_LARGE', async (codec) => {
    const data = await compress(codec, Buffer.alloc(300_000, 7));
    const budget = new DecodeBudget('This test', limits(500_000));
    expect((await decompress(codec, data, budget)).length).toBe(300_000);
    const error = await decompress(codec, data, budget).catch((e: unknown) => e);
    expect(isBudgetExceeded(error)).toBe(true);
    expect((error as SluiceError).status).toBe(413);
  });

  it('is charged nothing for an uncompressed batch, whose bytes were already received', async () => {
    const budget = new DecodeBudget('This test', limits(1));
    expect((await decompress('none', Buffer.alloc(100), budget)).length).toBe(100);
  });

  it('refuses a producer batch whose record count passes the budget before inflating it', async () => {
    const batch = await encodeRecordBatch(Array.from({ length: 10 }, (_, i) => ({ key: null, value: Buffer.from(String(i)), headers: [], timestamp: 1 })), { compression: 'gzip' });
    const budget = new DecodeBudget('This test', limits(1, 5));
    const error = await validateProducerBatch(batch, budget).catch((e: unknown) => e);
    expect((error as SluiceError).details.decodeBudget).toBe('records');
  });

  it('skips to an offset inside a batch without building the records before it', async () => {
    const batch = await encodeRecordBatch(Array.from({ length: 100 }, (_, i) => ({ key: null, value: Buffer.from(String(i)), headers: [], timestamp: 1 })));
    const reader = await openRecordBatch(batch, 0, new DecodeBudget('This test', limits(0)));
    await reader.skipTo(97);
    expect([reader.next(), reader.next(), reader.next(), reader.next()].map((r) => r?.value?.toString())).toEqual(['97', '98', '99', undefined]);
  });
});

describe('nestsDeeperThan', () => {
  it.each([
    ['[[1]]', 2, false],
    ['[[[1]]]', 2, true],
    ['{"a":{"b":[1]}}', 2, true],
    ['{"a":"[[[[[[["}', 1, false],
    ['["\\"[[[["]', 1, false],
  ])('%s deeper than %d: %s', (text, depth, expected) => {
    expect(nestsDeeperThan(Buffer.from(text), depth)).toBe(expected);
  });
});
