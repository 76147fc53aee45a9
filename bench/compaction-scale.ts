/**
 * What a compaction visit costs as the log grows: partitions of 10^3, 10^4 and 10^5 index
 * entries built directly in DynamoDB Local (BatchWriteItem), each visited by lib/retention
 * through S3 and DynamoDB clients that count every request. Then the AWS cost model of
 * docs/BENCHMARKS.md, re-run on the counted requests.
 */
import { BatchWriteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { createStorage, type Storage } from '../lib/storage/clients.ts';
import { getTopic } from '../lib/log/topics.ts';
import { compactPartition } from '../lib/retention/compact.ts';
import { HEAD_SK, indexSk, partitionPk, partitionPrefix, type IndexEntryItem } from '../lib/storage/schema.ts';
import type { LocalStack } from '../local/stack.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface VisitCost {
  dynamo: Record<string, number>;
  s3: Record<string, number>;
}

export interface ScaleRow {
  entries: number;
  firstVisit: VisitCost;
  nothingDue: VisitCost;
  retention100: VisitCost;
}

function counting(base: Storage): { storage: Storage; cost: VisitCost } {
  const storage = createStorage(base.env);
  const cost: VisitCost = { dynamo: {}, s3: {} };
  const count = (into: Record<string, number>, name: unknown) => (into[String(name)] = (into[String(name)] ?? 0) + 1);
  storage.s3.middlewareStack.add((next, context) => async (args) => (count(cost.s3, context.commandName), next(args)), { step: 'initialize' });
  storage.ddb.middlewareStack.add((next, context) => async (args) => (count(cost.dynamo, context.commandName), next(args)), { step: 'initialize' });
  return { storage, cost };
}

/** Total requests of a visit, e.g. "9 DynamoDB, 0 S3 (0 LIST)". */
export function formatCost(cost: VisitCost): string {
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  return `${sum(cost.dynamo)} DynamoDB, ${sum(cost.s3)} S3 (${cost.s3.ListObjectsV2Command ?? 0} LIST)`;
}

async function writeEntries(storage: Storage, topicName: string, count: number): Promise<void> {
  const topic = await getTopic(storage, topicName);
  const pk = partitionPk(topic.topicId, 0);
  const prefix = partitionPrefix(topic.name, 0, topic.topicId);
  const now = Date.now();
  const entry = (offset: number): IndexEntryItem => ({
    pk,
    sk: indexSk(offset),
    baseOffset: offset,
    lastOffset: offset,
    recordCount: 1,
    objectKey: `${prefix}${String(now).padStart(15, '0')}-produced-bench-${offset}.kafka`,
    byteStart: 0,
    byteLength: 1_048_700,
    maxTimestamp: now - (count - offset) * 1000,
    batchCount: 1,
    createdAtMs: now - (count - offset) * 1000,
    expireDays: 14,
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < count) {
        const from = next;
        next = Math.min(count, next + 25);
        let requests: Record<string, Array<{ PutRequest: { Item: Record<string, unknown> } }>> | undefined = {
          [storage.env.tableName]: Array.from({ length: next - from }, (_, i) => ({ PutRequest: { Item: { ...entry(from + i) } } })),
        };
        while (requests !== undefined && (requests[storage.env.tableName]?.length ?? 0) > 0) {
          const result = await storage.ddb.send(new BatchWriteCommand({ RequestItems: requests }));
          requests = result.UnprocessedItems as typeof requests;
        }
      }
    }),
  );
  await storage.ddb.send(new PutCommand({ TableName: storage.env.tableName, Item: { pk, sk: HEAD_SK, nextOffset: count, logStartOffset: 0, bytes: count * 1_048_700, segments: count } }));
}

/** Builds one partition of `entries` entries (7-day retention, 1 MiB segments) and counts three visits. */
export async function benchCompactionScale(stack: LocalStack, entries: number): Promise<ScaleRow> {
  const name = `scale-${entries}`;
  await fetch(`${stack.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, partitions: 1 }) });
  await writeEntries(stack.storage, name, entries);
  const topic = await getTopic(stack.storage, name);
  /** One counted visit, its requests added to `into`; true when it left work for the next visit. */
  const visit = async (nowMs: number, into: VisitCost): Promise<boolean> => {
    const { storage, cost } = counting(stack.storage);
    const report = await compactPartition(storage, topic, 0, { nowMs });
    for (const [name, n] of Object.entries(cost.dynamo)) into.dynamo[name] = (into.dynamo[name] ?? 0) + n;
    for (const [name, n] of Object.entries(cost.s3)) into.s3[name] = (into.s3[name] ?? 0) + n;
    return report.unfinished === true;
  };
  const start = Date.now();
  // The first visit reads the whole log once (sweep, tag check, merge tail); on a slow machine
  // its time budget splits that over several visits, summed here.
  const firstVisit: VisitCost = { dynamo: {}, s3: {} };
  for (let i = 0; i < 10 && (await visit(start, firstVisit)); i++);
  const nothingDue: VisitCost = { dynamo: {}, s3: {} };
  await visit(start + 10 * 60_000, nothingDue);
  // DeleteRecords past 100 entries, then the visit that removes them.
  await fetch(`${stack.url}/v1/topics/${name}/partitions/0/delete-records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ offset: 100 }) });
  const retention100: VisitCost = { dynamo: {}, s3: {} };
  await visit(start + 20 * 60_000, retention100);
  return { entries, firstVisit, nothingDue, retention100 };
}

/**
 * AWS list prices (us-east-1, November 2026): S3 Standard, DynamoDB on demand, Lambda arm64,
 * API Gateway HTTP API. USD.
 */
export const PRICES = {
  s3StorageGbMonth: 0.023,
  s3PutListPer1000: 0.005,
  s3GetPer1000: 0.0004,
  dynamoWritePerMillion: 0.625,
  dynamoReadPerMillion: 0.125,
  dynamoStorageGbMonth: 0.25,
  lambdaGbSecond: 0.0000133334,
  lambdaPerMillion: 0.2,
  httpApiPerMillion: 1.0,
} as const;

/**
 * The workload: 10 MiB/s produced in 1 MiB batches (10 requests/s) over 10 partitions,
 * 7-day retention, read once by one consumer in 1 MiB fetches, in the same region (no data
 * transfer charges). Every line is a month (30 days). Compaction's lines are derived from
 * the counted requests of a visit (`row`, at 10^5 entries) and the schedule the code
 * follows: one retention visit per partition every retentionCheckIntervalMs (5 min), one
 * orphan sweep a day (ceil(objects / 1,000) LISTs plus one index read per 100 LIST pages).
 */
export function costModel(row: ScaleRow): Array<[string, string, string]> {
  const month = 30 * 86_400;
  const requests = 10 * month;
  const partitions = 10;
  const entriesPerPartition = 7 * 86_400; // one 1 MiB segment per second per partition, kept 7 days
  const gb = (10 * 7 * 86_400) / 1024; // 10 MiB/s for 7 days, in GiB
  const money = (n: number) => `$${n.toFixed(2)}`;
  const lines: Array<[string, number, 'produce/consume' | 'compaction']> = [];
  lines.push(['S3 storage (7 days of data)', gb * PRICES.s3StorageGbMonth, 'produce/consume']);
  lines.push(['S3 PUT, one per produce', (requests / 1000) * PRICES.s3PutListPer1000, 'produce/consume']);
  lines.push(['S3 GET, one per fetch', (requests / 1000) * PRICES.s3GetPer1000, 'produce/consume']);
  // Produce commits head + entry in one transaction (2 items × 2 WRU); fetch reads head + one index page.
  lines.push(['DynamoDB produce commits (4 WRU) and head reads', (requests * 4 * PRICES.dynamoWritePerMillion + requests * 1 * PRICES.dynamoReadPerMillion) / 1e6, 'produce/consume']);
  lines.push(['DynamoDB fetch reads (head + index page, 2 RRU)', (requests * 2 * PRICES.dynamoReadPerMillion) / 1e6, 'produce/consume']);
  lines.push(['Lambda produce + fetch (1 GB, 100 ms each)', ((2 * requests * 0.1) * PRICES.lambdaGbSecond) + ((2 * requests) / 1e6) * PRICES.lambdaPerMillion, 'produce/consume']);
  // HTTP API meters 512 KB increments: a 1 MiB produce or fetch is two requests.
  lines.push(['API Gateway HTTP API (1 MiB = 2 metered requests)', ((4 * requests) / 1e6) * PRICES.httpApiPerMillion, 'produce/consume']);

  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  const visitsPerMonth = partitions * (month / 300);
  const baseDynamo = sum(row.nothingDue.dynamo);
  lines.push(['compaction: visits every 5 min per partition (counted requests, ~1 RRU/WRU each)', (visitsPerMonth * baseDynamo * PRICES.dynamoWritePerMillion) / 1e6, 'compaction']);
  // Retention removes every entry once: a transactional delete and pending-delete put (2 + 2 WRU), then the pending item's delete (1 WRU).
  const removed = requests;
  lines.push(['compaction: retention (5 WRU per removed entry, DeleteObject free)', (removed * 5 * PRICES.dynamoWritePerMillion) / 1e6, 'compaction']);
  const listsPerSweep = Math.ceil(entriesPerPartition / 1000);
  lines.push(['compaction: orphan sweep LISTs (one sweep a day)', ((partitions * 30 * listsPerSweep) / 1000) * PRICES.s3PutListPer1000, 'compaction']);
  // Each sweep visit streams the index once (eventually consistent: 8 KB per RRU, ~300 B per entry).
  const sweepVisits = Math.ceil(listsPerSweep / 100);
  const indexRru = (entriesPerPartition * 300) / 8192;
  lines.push(['compaction: orphan sweep index reads', (partitions * 30 * sweepVisits * indexRru * PRICES.dynamoReadPerMillion) / 1e6, 'compaction']);
  lines.push(['compaction: Lambda (1 GB, 1 s per visit)', visitsPerMonth * 1 * PRICES.lambdaGbSecond + (visitsPerMonth / 1e6) * PRICES.lambdaPerMillion, 'compaction']);

  const total = lines.reduce((n, [, v]) => n + v, 0);
  const compaction = lines.filter(([, , k]) => k === 'compaction').reduce((n, [, v]) => n + v, 0);
  return [
    ['line (per month)', 'USD', 'share'],
    ...lines.map(([name, value]): [string, string, string] => [name, money(value), `${((value / total) * 100).toFixed(1)} %`]),
    ['total', money(total), '100 %'],
    ['of which compaction', money(compaction), `${((compaction / total) * 100).toFixed(1)} %`],
  ];
}

export { DAY };
