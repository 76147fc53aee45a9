/**
 * Codec throughput on one core: encode and decode of RecordBatch v2 batches of 1000 records
 * with 1 KiB values, uncompressed and with every codec. MiB/s always counts the batch's
 * uncompressed size, so codecs compare on the same work. Each figure is the median of
 * several timed runs after a warm-up.
 *
 *   npx tsx bench/codec.ts
 */
import { pathToFileURL } from 'node:url';
import type { Compression } from '../lib/codec/compression.ts';
import { type BatchRecord, decodeRecordBatch, encodeRecordBatch } from '../lib/codec/record-batch.ts';

const RECORDS_PER_BATCH = 1000;
const VALUE_BYTES = 1024;
const RUNS = 7;
const RUN_MS = 250;
const WARMUP_MS = 300;
const CODECS: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** One measured operation. */
export interface CodecBenchResult {
  name: string;
  mibPerSec: number;
  recordsPerSec: number;
}

/** 1 KiB JSON-like values: repetitive field names with random contents, roughly as compressible as real events. */
export function makeRecords(): BatchRecord[] {
  let seed = 42;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    return (seed >>> 8) / 0x1000000;
  };
  const words = ['click', 'view', 'purchase', 'signup', 'login', 'logout', 'search', 'share'];
  return Array.from({ length: RECORDS_PER_BATCH }, (_, i) => {
    let text = `{"id":${i},"user":"user-${Math.floor(random() * 1e6)}","events":[`;
    while (text.length < VALUE_BYTES) {
      text += `{"type":"${words[Math.floor(random() * words.length)]}","at":${1_700_000_000_000 + Math.floor(random() * 1e9)},"session":"${Math.floor(random() * 2 ** 32).toString(16)}"},`;
    }
    return {
      key: Buffer.from(`user-${i % 97}`),
      value: Buffer.from(text.slice(0, VALUE_BYTES)),
      headers: [{ key: 'content-type', value: Buffer.from('application/json') }],
      timestamp: 1_700_000_000_000 + i,
    };
  });
}

/** Runs `operation` repeatedly for `ms`; returns operations per second. */
export async function opsPerSecond(operation: () => Promise<unknown>, ms: number): Promise<number> {
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    await operation();
    count++;
    elapsed = performance.now() - start;
  }
  return (count * 1000) / elapsed;
}

async function measure(name: string, operation: () => Promise<unknown>, batchBytes: number): Promise<CodecBenchResult> {
  await opsPerSecond(operation, WARMUP_MS);
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) rates.push(await opsPerSecond(operation, RUN_MS));
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  return { name, mibPerSec: (median * batchBytes) / (1024 * 1024), recordsPerSec: median * RECORDS_PER_BATCH };
}

/** Measures encode and decode of 1000 × 1 KiB-value batches for every codec. */
export async function benchCodec(): Promise<CodecBenchResult[]> {
  const records = makeRecords();
  const uncompressedBytes = (await encodeRecordBatch(records)).length;
  const results: CodecBenchResult[] = [];
  for (const compression of CODECS) {
    const batch = await encodeRecordBatch(records, { compression });
    results.push(await measure(`encode ${compression}`, () => encodeRecordBatch(records, { compression }), uncompressedBytes));
    results.push(await measure(`decode ${compression}`, () => decodeRecordBatch(batch), uncompressedBytes));
  }
  return results;
}

/** Prints the results as an aligned table. */
export function formatCodecBench(results: readonly CodecBenchResult[]): string {
  const rows = results.map((r) => [r.name, r.mibPerSec.toFixed(0), Math.round(r.recordsPerSec).toLocaleString('en-US')]);
  const table = [['operation', 'MiB/s', 'records/s'], ...rows];
  const widths = [0, 1, 2].map((c) => Math.max(...table.map((row) => row[c]!.length)));
  return table.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`RecordBatch v2, ${RECORDS_PER_BATCH} records x ${VALUE_BYTES} B values, node ${process.version}, median of ${RUNS} runs`);
  console.log(formatCodecBench(await benchCodec()));
}
