import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { decodeRecordBatch, encodeRecordBatch, encodeRetainedBatch, readBatchHeader, type BatchRecord } from '../../../lib/codec/record-batch.ts';

const require = createRequire(import.meta.url);
const KafkaJsDecoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => object;
const kafkajsDecodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: object) => Promise<{ records: Array<{ offset: string; value: Buffer | null }> }>;

function records(n: number): BatchRecord[] {
  return Array.from({ length: n }, (_, i) => ({ key: Buffer.from(`k${i % 3}`), value: Buffer.from(`v${i}`), headers: [{ key: 'h', value: null }], timestamp: 1000 + i }));
}

describe('encodeRetainedBatch (log compaction)', () => {
  it.each(['none', 'gzip', 'zstd'] as const)('keeps the kept records at their offsets and the batch spanning the same offsets (%s)', async (compression) => {
    const original = await encodeRecordBatch(records(6), { compression, baseOffset: 100, producerId: 7n, producerEpoch: 2, baseSequence: 40 });
    const { header, records: decoded } = await decodeRecordBatch(original);
    const kept = decoded.filter((r) => r.offset === 101 || r.offset === 103);
    const rewritten = await encodeRetainedBatch(header, kept);
    const again = await decodeRecordBatch(rewritten);
    expect(again.records).toEqual(kept);
    expect(again.header).toMatchObject({ baseOffset: 100, lastOffsetDelta: 5, recordCount: 2, compression, producerId: 7n, producerEpoch: 2, baseSequence: 40 });
  });

  it('writes an empty batch that still spans the original offsets when nothing is kept', async () => {
    const original = await encodeRecordBatch(records(4), { compression: 'gzip' });
    const { header } = await decodeRecordBatch(original);
    const empty = await encodeRetainedBatch(header, []);
    const decoded = await decodeRecordBatch(empty);
    expect(decoded.records).toEqual([]);
    expect(readBatchHeader(empty)).toMatchObject({ recordCount: 0, lastOffsetDelta: 3, maxTimestamp: header.maxTimestamp });
  });

  it('is readable by kafkajs, with gaps where records were removed', async () => {
    const original = await encodeRecordBatch(records(5), { baseOffset: 10 });
    const { header, records: decoded } = await decodeRecordBatch(original);
    const rewritten = await encodeRetainedBatch(header, decoded.filter((r) => r.offset % 2 === 0));
    const theirs = await kafkajsDecodeBatch(new KafkaJsDecoder(rewritten));
    expect(theirs.records.map((r) => [r.offset, r.value?.toString()])).toEqual([['10', 'v0'], ['12', 'v2'], ['14', 'v4']]);
  });
});
