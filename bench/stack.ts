/**
 * End-to-end throughput of the local stack, and the emulators' own cost for the same
 * storage calls, so the server's share can be told apart from DynamoDB Local's and
 * s3rver's.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { BATCHES_MEDIA_TYPE, decodeFrames, encodeFrames } from '../lib/codec/framing.ts';
import { encodeRecordBatch, type BatchRecord } from '../lib/codec/record-batch.ts';
import type { LocalStack } from '../local/stack.ts';

export const VALUE_BYTES = 1024;
export const RECORDS_PER_REQUEST = 1000;
export const PARTITIONS = 4;
const MiB = 1024 * 1024;

export interface Throughput {
  name: string;
  records: number;
  bytes: number;
  seconds: number;
  recordsPerSec: number;
  mibPerSec: number;
}

function throughput(name: string, records: number, bytes: number, seconds: number): Throughput {
  return { name, records, bytes, seconds, recordsPerSec: records / seconds, mibPerSec: bytes / MiB / seconds };
}

function records(n: number): BatchRecord[] {
  const value = randomBytes(VALUE_BYTES);
  return Array.from({ length: n }, (_, i) => ({ key: Buffer.from(`key-${i}`), value, headers: [], timestamp: Date.now() }));
}

async function post(url: string, body: Buffer | string, contentType: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  if (res.status !== 200) throw new Error(`produce failed: ${res.status} ${await res.text()}`);
}

/** Runs `requests` jobs with `concurrency` workers; returns elapsed seconds. */
async function timed(requests: number, concurrency: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) await job(next++);
    }),
  );
  return (performance.now() - started) / 1000;
}

/** Produces `requests` × 1,000 records of 1 KiB through the HTTP API, binary and JSON. */
export async function benchProduce(stack: LocalStack, topic: string, requests: number): Promise<Throughput[]> {
  const batch = await encodeRecordBatch(records(RECORDS_PER_REQUEST));
  const binaryBodies = Array.from({ length: PARTITIONS }, (_, p) => encodeFrames([{ partition: p, batch }]));
  const binarySeconds = await timed(requests, PARTITIONS, (i) => post(`${stack.url}/v1/topics/${topic}/records`, binaryBodies[i % PARTITIONS] as Buffer, BATCHES_MEDIA_TYPE));
  const value = randomBytes(VALUE_BYTES / 2).toString('hex');
  const jsonBodies = Array.from({ length: PARTITIONS }, (_, p) => JSON.stringify({ records: Array.from({ length: RECORDS_PER_REQUEST }, (_, i) => ({ key: `key-${i}`, value, partition: p })) }));
  const jsonSeconds = await timed(requests, PARTITIONS, (i) => post(`${stack.url}/v1/topics/${topic}/records`, jsonBodies[i % PARTITIONS] as string, 'application/json'));
  const n = requests * RECORDS_PER_REQUEST;
  return [throughput('produce binary (HTTP, 4 concurrent)', n, n * VALUE_BYTES, binarySeconds), throughput('produce JSON (HTTP, 4 concurrent)', n, n * VALUE_BYTES, jsonSeconds)];
}

/** Reads every partition of `topic` from offset 0 to its end, binary and JSON. */
export async function benchFetch(stack: LocalStack, topic: string): Promise<Throughput[]> {
  const readAll = async (binary: boolean): Promise<{ records: number; seconds: number }> => {
    let total = 0;
    const seconds = await timed(PARTITIONS, PARTITIONS, async (p) => {
      for (let offset = 0; ; ) {
        const res = await fetch(`${stack.url}/v1/topics/${topic}/partitions/${p}/records?offset=${offset}&maxBytes=4194304&maxRecords=10000`, binary ? { headers: { accept: BATCHES_MEDIA_TYPE } } : {});
        if (res.status !== 200) throw new Error(`fetch failed: ${res.status}`);
        if (binary) {
          const frames = decodeFrames(Buffer.from(await res.arrayBuffer()));
          const next = Number(res.headers.get('x-sluice-next-offset'));
          total += next - offset;
          offset = next;
          if (frames.length === 0 || offset >= Number(res.headers.get('x-sluice-high-watermark'))) return;
        } else {
          const body = (await res.json()) as { records: unknown[]; nextOffset: number; highWatermark: number };
          total += body.records.length;
          offset = body.nextOffset;
          if (body.records.length === 0 || offset >= body.highWatermark) return;
        }
      }
    });
    return { records: total, seconds };
  };
  const binary = await readAll(true);
  const json = await readAll(false);
  return [
    throughput('fetch binary (HTTP, 4 concurrent)', binary.records, binary.records * VALUE_BYTES, binary.seconds),
    throughput('fetch JSON (HTTP, 4 concurrent)', json.records, json.records * VALUE_BYTES, json.seconds),
  ];
}

/**
 * The emulators alone: per request, the same storage calls a binary produce makes (one
 * PUT of the batch, one two-item transaction), with no HTTP, parsing or validation.
 */
export async function benchEmulatorsOnly(stack: LocalStack, run: string, requests: number): Promise<Throughput> {
  const batch = await encodeRecordBatch(records(RECORDS_PER_REQUEST));
  const { s3, ddb, env } = stack.storage;
  const counters = Array.from({ length: PARTITIONS }, () => 0);
  const seconds = await timed(requests, PARTITIONS, async (i) => {
    const p = i % PARTITIONS;
    const key = `bench/${run}/${p}/${randomUUID()}`;
    await s3.send(new PutObjectCommand({ Bucket: env.bucketName, Key: key, Body: batch }));
    const base = counters[p] as number;
    counters[p] = base + RECORDS_PER_REQUEST;
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: env.tableName, Item: { pk: `BENCH#${run}#${p}`, sk: 'HEAD', nextOffset: base + RECORDS_PER_REQUEST } } },
          { Put: { TableName: env.tableName, Item: { pk: `BENCH#${run}#${p}`, sk: `S#${base}`, objectKey: key }, ConditionExpression: 'attribute_not_exists(pk)' } },
        ],
      }),
    );
  });
  const n = requests * RECORDS_PER_REQUEST;
  return throughput('emulators only: PUT + transaction per request', n, n * VALUE_BYTES, seconds);
}

/** Where one binary produce request's time goes, measured one request at a time. */
export interface ProduceSplit {
  requests: number;
  /** Medians, ms per request of 1,000 × 1 KiB records. */
  totalMs: number;
  storageMs: number;
  serverMs: number;
}

/**
 * Sequential binary produces, timing the storage calls on the handlers' own SDK clients:
 * what remains of the round trip is Sluice (HTTP, event, validation, sequencing logic) plus
 * the local API Gateway emulation.
 */
export async function benchProduceSplit(stack: LocalStack, topic: string, requests = 24): Promise<ProduceSplit> {
  const { sharedStorage } = await import('../lib/storage/clients.ts');
  const shared = sharedStorage();
  let storageMs = 0;
  const timing = (next: (args: never) => Promise<unknown>) => async (args: never) => {
    const started = performance.now();
    try {
      return await next(args);
    } finally {
      storageMs += performance.now() - started;
    }
  };
  shared.s3.middlewareStack.add(timing as never, { step: 'initialize', name: 'benchTiming' });
  shared.ddb.middlewareStack.add(timing as never, { step: 'initialize', name: 'benchTiming' });
  const body = encodeFrames([{ partition: 0, batch: await encodeRecordBatch(records(RECORDS_PER_REQUEST)) }]);
  const totals: number[] = [];
  const storages: number[] = [];
  for (let i = 0; i < requests; i++) {
    storageMs = 0;
    const started = performance.now();
    await post(`${stack.url}/v1/topics/${topic}/records`, body, BATCHES_MEDIA_TYPE);
    totals.push(performance.now() - started);
    storages.push(storageMs);
  }
  shared.s3.middlewareStack.remove('benchTiming');
  shared.ddb.middlewareStack.remove('benchTiming');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const total = median(totals);
  const storage = median(storages);
  return { requests, totalMs: total, storageMs: storage, serverMs: total - storage };
}
