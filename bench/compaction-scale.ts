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
  /** Requests by command name. */
  dynamo: Record<string, number>;
  s3: Record<string, number>;
  /** DynamoDB write units by AWS's rules (items under 1 KB: 1 per item written or deleted, 2 in a transaction). */
  wru: number;
  /** DynamoDB read units by AWS's rules (4 KB per unit of each request's items; half for eventually consistent reads). */
  rru: number;
}

export interface ScaleRow {
  entries: number;
  firstVisit: VisitCost;
  nothingDue: VisitCost;
  /** A visit of the modelled workload's steady state: retention cuts the 300 segments that expired in 5 minutes and releases the 300 the previous visit cut. */
  steady: VisitCost & { cut: number; released: number };
  /** Seconds spent building the state. */
  buildSeconds: number;
}

function emptyCost(): VisitCost {
  return { dynamo: {}, s3: {}, wru: 0, rru: 0 };
}

type Output = { Items?: unknown[]; Item?: unknown };

/** Write units one DynamoDB command costs (items under 1 KB, as index entries and heads are). */
function writeUnits(command: string, input: Record<string, unknown>): number {
  if (command === 'TransactWriteItemsCommand') return 2 * ((input.TransactItems as unknown[] | undefined)?.length ?? 0);
  if (command === 'BatchWriteItemCommand') return Object.values((input.RequestItems as Record<string, unknown[]> | undefined) ?? {}).reduce((n, r) => n + r.length, 0);
  return ['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand'].includes(command) ? 1 : 0;
}

/**
 * Read units one DynamoDB read cost: its items' size in 4 KB units, at least one, half when
 * eventually consistent. Sizes are of the wire form (type tags included), so a little high.
 */
function readUnits(command: string, input: Record<string, unknown>, output: Output): number {
  if (!['QueryCommand', 'GetItemCommand', 'BatchGetItemCommand'].includes(command)) return 0;
  const bytes = JSON.stringify(output.Items ?? output.Item ?? {}).length;
  return Math.max(1, Math.ceil(bytes / 4096)) * (input.ConsistentRead === true ? 1 : 0.5);
}

function counting(base: Storage): { storage: Storage; cost: VisitCost } {
  const storage = createStorage(base.env);
  const cost = emptyCost();
  const count = (into: Record<string, number>, name: unknown) => (into[String(name)] = (into[String(name)] ?? 0) + 1);
  storage.s3.middlewareStack.add((next, context) => async (args) => (count(cost.s3, context.commandName), next(args)), { step: 'initialize' });
  storage.ddb.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName);
      count(cost.dynamo, command);
      const input = args.input as Record<string, unknown>;
      const result = await next(args);
      cost.wru += writeUnits(command, input);
      cost.rru += readUnits(command, input, result.output as Output);
      return result;
    },
    { step: 'initialize' },
  );
  return { storage, cost };
}

function addCost(into: VisitCost, cost: VisitCost): void {
  for (const [name, n] of Object.entries(cost.dynamo)) into.dynamo[name] = (into.dynamo[name] ?? 0) + n;
  for (const [name, n] of Object.entries(cost.s3)) into.s3[name] = (into.s3[name] ?? 0) + n;
  into.wru += cost.wru;
  into.rru += cost.rru;
}

/** Total requests of a visit, e.g. "9 DynamoDB (5 WRU, 3 RRU), 0 S3 (0 LIST)". */
export function formatCost(cost: VisitCost): string {
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  return `${sum(cost.dynamo)} DynamoDB (${cost.wru} WRU, ${cost.rru} RRU), ${sum(cost.s3)} S3 (${cost.s3.ListObjectsV2Command ?? 0} LIST)`;
}

/** Writes `count` 1 MiB index entries, one a second up to `newestMs`, 25 a BatchWriteItem, 16 requests in flight. */
async function writeEntries(storage: Storage, topicName: string, count: number, newestMs: number): Promise<void> {
  const topic = await getTopic(storage, topicName);
  const pk = partitionPk(topic.topicId, 0);
  const prefix = partitionPrefix(topic.name, 0, topic.topicId);
  const entry = (offset: number): IndexEntryItem => ({
    pk,
    sk: indexSk(offset),
    baseOffset: offset,
    lastOffset: offset,
    recordCount: 1,
    objectKey: `${prefix}${String(newestMs).padStart(15, '0')}-produced-bench-${offset}.kafka`,
    byteStart: 0,
    byteLength: SEGMENT_BYTES,
    maxTimestamp: newestMs - (count - 1 - offset) * 1000,
    batchCount: 1,
    createdAtMs: newestMs - (count - 1 - offset) * 1000,
    expireDays: 14,
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
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
  await storage.ddb.send(new PutCommand({ TableName: storage.env.tableName, Item: { pk, sk: HEAD_SK, nextOffset: count, logStartOffset: 0, bytes: count * SEGMENT_BYTES, segments: count } }));
}

/** The workload's segment: one 1 MiB produce request plus its batch overhead (not small: never merged). */
const SEGMENT_BYTES = 1_048_700;
const RETENTION_MS = 7 * DAY;
const CHECK_MS = 5 * 60_000;

/**
 * Builds one partition of `entries` entries (7-day retention, 1 MiB segments, one a second)
 * and counts its visits: the first (which does the daily sweep and whole-log tag check),
 * one with nothing due, and a steady-state retention visit of the modelled workload.
 */
export async function benchCompactionScale(stack: LocalStack, entries: number): Promise<ScaleRow> {
  const name = `scale-${entries}`;
  await fetch(`${stack.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, partitions: 1, configs: { 'retention.ms': RETENTION_MS } }) });
  const start = Date.now();
  const built = performance.now();
  await writeEntries(stack.storage, name, entries, start);
  const buildSeconds = (performance.now() - built) / 1000;
  const topic = await getTopic(stack.storage, name);
  /** One counted visit, its requests added to `into`; true when it left work for the next visit. */
  const visit = async (nowMs: number, into: VisitCost): Promise<{ unfinished: boolean; cut: number; released: number }> => {
    const { storage, cost } = counting(stack.storage);
    const report = await compactPartition(storage, topic, 0, { nowMs });
    addCost(into, cost);
    return { unfinished: report.unfinished === true, cut: report.removedSegments, released: report.releasedSegments };
  };
  // The first visit reads the whole log once (sweep, tag check, merge tail); on a slow machine
  // its time budget splits that over several visits, summed here.
  const firstVisit = emptyCost();
  for (let i = 0; i < 10 && (await visit(start, firstVisit)).unfinished; i++);
  const nothingDue = emptyCost();
  await visit(start + 10 * 60_000, nothingDue);
  // Steady state: the oldest segment expires at oldest + 7 days; a visit every 5 minutes then
  // cuts the 300 segments that expired since the last, and releases a cut whose grace (5 min
  // from a moment after its commit) is over: the one two visits back.
  const oldestExpiresMs = start - (entries - 1) * 1000 + RETENTION_MS;
  const warmUp = emptyCost();
  await visit(oldestExpiresMs + CHECK_MS, warmUp);
  await visit(oldestExpiresMs + 2 * CHECK_MS, warmUp);
  const steady = { ...emptyCost(), cut: 0, released: 0 };
  const counted = await visit(oldestExpiresMs + 3 * CHECK_MS, steady);
  return { entries, firstVisit, nothingDue, steady: { ...steady, cut: counted.cut, released: counted.released }, buildSeconds };
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
 * the write and read units counted on a steady-state visit (`row`, at the largest size) and
 * the schedule the code follows: one visit per partition every retentionCheckIntervalMs
 * (5 min; produce triggers none in this workload: its 1 MiB segments are not small and
 * retention.bytes is off), one orphan sweep a day (ceil(objects / 1,000) LISTs plus one
 * index read per 100 LIST pages).
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

  const visitsPerMonth = partitions * (month / 300);
  // Every visit of this workload is the steady one: retention cuts and releases 300 segments
  // (300 s of one segment a second). The counted visit's removal writes are scaled to that, as
  // it may have released two visits' cuts at once (a grace that ended just after a visit).
  const removalWru = ((row.steady.wru - row.nothingDue.wru) * 300) / Math.max(1, row.steady.released);
  const wru = row.nothingDue.wru + removalWru;
  const perVisit = wru * PRICES.dynamoWritePerMillion + row.steady.rru * PRICES.dynamoReadPerMillion;
  lines.push([`compaction: a visit every 5 min per partition, cutting and releasing 300 segments (${wru.toFixed(0)} WRU, ${row.steady.rru} RRU)`, (visitsPerMonth * perVisit) / 1e6, 'compaction']);
  const listsPerSweep = Math.ceil(entriesPerPartition / 1000);
  lines.push(['compaction: orphan sweep LISTs (one sweep a day)', ((partitions * 30 * listsPerSweep) / 1000) * PRICES.s3PutListPer1000, 'compaction']);
  // Each sweep step streams the index once (eventually consistent: 8 KB per RRU, ~300 B per entry).
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
