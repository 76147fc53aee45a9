/**
 * Sluice's RecordBatch codec next to kafkajs's, on the same bytes in the same process:
 * 1,000 records of 1 KiB, uncompressed (the codec's own work, no compression library).
 * Decode: Sluice checks the CRC-32C (with the native addon when installed; SLUICE_CRC32C=portable
 * measures the pure-JavaScript code the Lambda functions run), kafkajs checks none. Encode: kafkajs builds each record
 * (Record v0) then the batch, as its producer does; Sluice encodes from the same records.
 *
 * The two alternate, after a warm-up of both, and each keeps its best of three runs: kafkajs is
 * slow only until V8 has optimised it, so a single cold run would flatter Sluice.
 *
 *   npx tsx bench/codec-vs-kafkajs.ts
 *   SLUICE_CRC32C=portable npx tsx bench/codec-vs-kafkajs.ts
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { CRC32C_IMPLEMENTATION } from '../lib/codec/crc32c.ts';
import { type BatchRecord, decodeRecordBatch, encodeRecordBatch } from '../lib/codec/record-batch.ts';
import { makeRecords, opsPerSecond } from './codec.ts';

const ROUNDS = 3;
const RUN_MS = 400;
const WARMUP_MS = 600;

const require = createRequire(import.meta.url);
type KafkaJsEncoder = { buffer: Buffer };
const { RecordBatch: kafkajsRecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch(input: { compression: number; firstOffset: number; firstTimestamp: number; maxTimestamp: number; lastOffsetDelta: number; records: KafkaJsEncoder[] }): Promise<KafkaJsEncoder>;
};
const kafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (input: { offsetDelta: number; timestampDelta: number; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer> }) => KafkaJsEncoder;
const KafkaJsDecoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => object;
const kafkajsDecodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: object) => Promise<{ records: unknown[] }>;

/** One operation's rates: its best run, in MiB/s of uncompressed batch. */
export interface ComparedRate {
  operation: 'decode' | 'encode';
  sluiceMiBps: number;
  kafkajsMiBps: number;
  ratio: number;
}

function kafkajsEncode(records: readonly BatchRecord[]): Promise<KafkaJsEncoder> {
  const first = records[0]?.timestamp ?? 0;
  const encoded = records.map((r, i) => kafkajsRecord({ offsetDelta: i, timestampDelta: r.timestamp - first, key: r.key, value: r.value, headers: Object.fromEntries(r.headers.map((h) => [h.key, h.value ?? Buffer.alloc(0)])) }));
  return kafkajsRecordBatch({ compression: 0, firstOffset: 0, firstTimestamp: first, maxTimestamp: records.at(-1)?.timestamp ?? first, lastOffsetDelta: records.length - 1, records: encoded });
}

/** Alternates the two after warming both; best of ROUNDS each. */
async function compare(operation: ComparedRate['operation'], sluice: () => Promise<unknown>, kafkajs: () => Promise<unknown>, batchBytes: number): Promise<ComparedRate> {
  await opsPerSecond(sluice, WARMUP_MS);
  await opsPerSecond(kafkajs, WARMUP_MS);
  let bestSluice = 0;
  let bestKafkajs = 0;
  for (let round = 0; round < ROUNDS; round++) {
    bestSluice = Math.max(bestSluice, await opsPerSecond(sluice, RUN_MS));
    bestKafkajs = Math.max(bestKafkajs, await opsPerSecond(kafkajs, RUN_MS));
  }
  const mib = batchBytes / (1024 * 1024);
  return { operation, sluiceMiBps: bestSluice * mib, kafkajsMiBps: bestKafkajs * mib, ratio: bestSluice / bestKafkajs };
}

/** Decode and encode of one uncompressed 1,000 × 1 KiB batch, Sluice and kafkajs side by side. */
export async function benchCodecVsKafkajs(): Promise<ComparedRate[]> {
  const records = makeRecords();
  const batch = await encodeRecordBatch(records);
  // The same bytes for both decoders: kafkajs must read what Sluice stores.
  const check = await kafkajsDecodeBatch(new KafkaJsDecoder(batch));
  if (check.records.length !== records.length) throw new Error(`kafkajs decoded ${check.records.length} of ${records.length} records`);
  return [
    await compare('decode', () => decodeRecordBatch(batch), () => kafkajsDecodeBatch(new KafkaJsDecoder(batch)), batch.length),
    await compare('encode', () => encodeRecordBatch(records), () => kafkajsEncode(records), batch.length),
  ];
}

export function formatCodecVsKafkajs(results: readonly ComparedRate[]): string {
  const rows = [['operation (1,000 × 1 KiB, uncompressed, best of 3)', 'Sluice MiB/s', 'kafkajs MiB/s', 'ratio'], ...results.map((r) => [`${r.operation}${r.operation === 'decode' ? ` (Sluice checks CRC-32C, ${CRC32C_IMPLEMENTATION}; kafkajs none)` : ''}`, r.sluiceMiBps.toFixed(0), r.kafkajsMiBps.toFixed(0), `${r.ratio.toFixed(2)}×`])];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) => `| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`).join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
  console.log(formatCodecVsKafkajs(await benchCodecVsKafkajs()));
}
