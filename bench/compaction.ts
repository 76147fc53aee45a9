/**
 * The compact function's merge throughput and request counts, and what merging saves on
 * a day of traffic. Drives lib/retention directly against the local stack's storage, with
 * an S3 and a DynamoDB client that count every request.
 */
import { randomBytes } from 'node:crypto';
import { createStorage, type Storage } from '../lib/storage/clients.ts';
import { getTopic } from '../lib/log/topics.ts';
import { compactPartition } from '../lib/retention/compact.ts';
import type { LocalStack } from '../local/stack.ts';

const MiB = 1024 * 1024;

export interface CompactionBenchResult {
  segments: number;
  segmentBytes: number;
  mergedMiB: number;
  seconds: number;
  mibPerSec: number;
  objectsAfter: number;
  s3Requests: Record<string, number>;
  dynamoRequests: Record<string, number>;
}

/** A Storage whose clients count requests by command name. */
function countingStorage(base: Storage): { storage: Storage; s3: Record<string, number>; dynamo: Record<string, number> } {
  const storage = createStorage(base.env);
  const s3: Record<string, number> = {};
  const dynamo: Record<string, number> = {};
  storage.s3.middlewareStack.add((next, context) => async (args) => ((s3[context.commandName as string] = (s3[context.commandName as string] ?? 0) + 1), next(args)), { step: 'initialize' });
  storage.ddb.middlewareStack.add((next, context) => async (args) => ((dynamo[context.commandName as string] = (dynamo[context.commandName as string] ?? 0) + 1), next(args)), { step: 'initialize' });
  return { storage, s3, dynamo };
}

/** Produces `segments` requests of `recordsPerSegment` 1 KiB records to one partition, then merges them. */
export async function benchCompaction(stack: LocalStack, topic: string, segments = 400, recordsPerSegment = 10): Promise<CompactionBenchResult> {
  await fetch(`${stack.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: topic, partitions: 1, configs: { 'retention.ms': -1 } }) });
  const value = randomBytes(512).toString('hex');
  // Measure one merge of all the segments: keep produce's trigger from merging them first.
  const trigger = process.env.SLUICE_COMPACT_FUNCTION;
  process.env.SLUICE_COMPACT_FUNCTION = '';
  let next = 0;
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (next < segments) {
        next++;
        const body = JSON.stringify({ records: Array.from({ length: recordsPerSegment }, (_, i) => ({ key: `k${i}`, value, partition: 0 })) });
        for (;;) {
          const res = await fetch(`${stack.url}/v1/topics/${topic}/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          await res.text();
          if (res.status === 200) break;
        }
      }
    }),
  );
  process.env.SLUICE_COMPACT_FUNCTION = trigger;
  const { storage, s3, dynamo } = countingStorage(stack.storage);
  const item = await getTopic(storage, topic);
  const before = (await (await fetch(`${stack.url}/v1/topics/${topic}`)).json()) as { partitions: Array<{ bytes: number; segments: number }> };
  const started = performance.now();
  await compactPartition(storage, item, 0);
  const seconds = (performance.now() - started) / 1000;
  const after = (await (await fetch(`${stack.url}/v1/topics/${topic}`)).json()) as { partitions: Array<{ segments: number }> };
  const bytes = before.partitions[0]?.bytes ?? 0;
  return {
    segments: before.partitions[0]?.segments ?? 0,
    segmentBytes: Math.round(bytes / Math.max(1, before.partitions[0]?.segments ?? 1)),
    mergedMiB: bytes / MiB,
    seconds,
    mibPerSec: bytes / MiB / seconds,
    objectsAfter: after.partitions[0]?.segments ?? 0,
    s3Requests: s3,
    dynamoRequests: dynamo,
  };
}

/** S3 list prices (us-east-1, Standard): per 1,000 PUT/LIST and per 1,000 GET, USD. */
const PUT_PER_1000 = 0.005;
const GET_PER_1000 = 0.0004;

/**
 * A day of one partition at one produce request per second (86,400 segments of `segmentBytes`),
 * read once by one consumer: S3 requests and their cost, and index entries left, with and
 * without merging, from the measured per-segment merge costs.
 */
export function dayOfTraffic(result: CompactionBenchResult, fetchBytes = MiB): Array<[string, string, string]> {
  const segments = 86_400;
  const dayBytes = segments * result.segmentBytes;
  const mergedObjects = Math.ceil((segments * result.objectsAfter) / Math.max(1, result.segments));
  const per = (n: number) => n / Math.max(1, result.segments);
  const mergeGets = per(result.s3Requests.GetObjectCommand ?? 0) * segments;
  const mergePuts = per(result.s3Requests.PutObjectCommand ?? 0) * segments;
  const mergeLists = per(result.s3Requests.ListObjectsV2Command ?? 0) * segments;
  // A consumer reads at most one fetch budget per request and one GET per index entry it touches.
  const readGetsUnmerged = segments;
  const readGetsMerged = Math.max(mergedObjects, Math.ceil(dayBytes / fetchBytes));
  const cost = (puts: number, gets: number) => `$${((puts / 1000) * PUT_PER_1000 + (gets / 1000) * GET_PER_1000).toFixed(3)}`;
  return [
    ['', 'without merging', 'with merging'],
    ['objects / index entries at end of day', String(segments), String(mergedObjects)],
    ['produce PUTs', String(segments), String(segments)],
    ['compaction GETs + PUTs + LISTs', '0', `${Math.round(mergeGets)} + ${Math.round(mergePuts)} + ${Math.round(mergeLists)}`],
    ['consumer GETs for one full read', String(readGetsUnmerged), String(readGetsMerged)],
    ['S3 request cost (PUT/LIST $0.005/1k, GET $0.0004/1k)', cost(segments, readGetsUnmerged), cost(segments + mergePuts + mergeLists, mergeGets + readGetsMerged)],
  ];
}
