/**
 * `npm run bench`: codec speed on one core, then the local stack end to end with 1 KiB
 * values, 1,000 records a request and 4 partitions, next to the emulators' own cost.
 * Each figure is the median of several runs; write them into docs/BENCHMARKS.md.
 */
import { randomBytes } from 'node:crypto';
import { startEmulators } from '../local/emulators.ts';
import { startStack } from '../local/stack.ts';
import { benchCodec } from './codec.ts';
import { benchCodecVsKafkajs, formatCodecVsKafkajs } from './codec-vs-kafkajs.ts';
import { PARTITIONS, benchEmulatorsOnly, benchFetch, benchProduce, benchProduceSplit, type Throughput } from './stack.ts';
import { benchClient, formatClientBench } from './client.ts';
import { benchCompaction, dayOfTraffic } from './compaction.ts';
import { benchGroupCosts } from './group-costs.ts';
import { benchCompactionScale, costModel, formatCost } from './compaction-scale.ts';
import { benchGroups, benchHeartbeatScaling, formatGroupsBench, formatHeartbeatScaling } from './groups.ts';
import { benchInstances, formatInstancesBench } from './instances.ts';
import { benchHotPartition, formatHotPartition } from './hot-partition.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 32);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function table(rows: Array<[string, string, string]>): void {
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]?.length ?? 0)));
  for (const row of rows) console.log(`| ${row.map((cell, c) => cell.padEnd(widths[c] as number)).join(' | ')} |`);
}

console.log(`node ${process.version}, ${new Date().toISOString().slice(0, 10)}, runs=${RUNS}, requests/run=${REQUESTS}\n`);

const codecRuns = [];
for (let i = 0; i < RUNS; i++) codecRuns.push(await benchCodec());
const codecNames = (codecRuns[0] ?? []).map((r) => r.name);
const codecRows: Array<[string, string, string]> = [['codec (1 KiB values, 1,000 records/batch, one core)', 'MiB/s (median)', 'records/s (median)']];
for (const name of codecNames) {
  const runs = codecRuns.map((run) => run.find((r) => r.name === name)).filter((r) => r !== undefined);
  codecRows.push([name, median(runs.map((r) => r.mibPerSec)).toFixed(0), median(runs.map((r) => r.recordsPerSec)).toFixed(0)]);
}
table(codecRows);
console.log();
// Same bytes, same process, alternating, warm, best of three (bench/codec-vs-kafkajs.ts).
console.log(formatCodecVsKafkajs(await benchCodecVsKafkajs()));
console.log();

const emulators = await startEmulators();
try {
  const suffix = randomBytes(3).toString('hex');
  const stack = await startStack({ emulators, tableName: `bench-${suffix}`, bucketName: `bench-${suffix}`, port: 0 });
  const results = new Map<string, Throughput[]>();
  const record = (t: Throughput) => results.set(t.name, [...(results.get(t.name) ?? []), t]);
  // Run 0 warms the JIT, the SDK's connection pools and the emulators; it is not counted.
  for (let run = 0; run <= RUNS; run++) {
    const topic = `bench-${run}`;
    await fetch(`${stack.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: topic, partitions: PARTITIONS, configs: { 'max.message.bytes': 4194304 } }) });
    const measured = [...(await benchProduce(stack, topic, REQUESTS)), ...(await benchFetch(stack, topic)), await benchEmulatorsOnly(stack, topic, REQUESTS)];
    if (run > 0) measured.forEach(record);
  }
  const rows: Array<[string, string, string]> = [['local stack (1 KiB values, 1,000 records/request, 4 partitions)', 'MiB/s (median)', 'records/s (median)']];
  for (const [name, runs] of results) rows.push([name, median(runs.map((r) => r.mibPerSec)).toFixed(1), median(runs.map((r) => r.recordsPerSec)).toFixed(0)]);
  table(rows);
  const produce = median(results.get('produce binary (HTTP, 4 concurrent)')?.map((r) => r.seconds) ?? []);
  const storage = median(results.get('emulators only: PUT + transaction per request')?.map((r) => r.seconds) ?? []);
  console.log(`\nbinary produce, 4 concurrent: the same storage calls alone take ${((storage / produce) * 100).toFixed(0)}% of the time (both share this process's one event loop with the load generator).`);
  const split = await benchProduceSplit(stack, 'bench-0');
  console.log(
    `binary produce, one request at a time (median of ${split.requests}, 1,000 × 1 KiB): ${split.totalMs.toFixed(1)} ms per request, of which S3 + DynamoDB calls ${split.storageMs.toFixed(1)} ms (${((split.storageMs / split.totalMs) * 100).toFixed(0)}%) and everything else (local HTTP, event, validation, sequencing) ${split.serverMs.toFixed(1)} ms.`,
  );

  console.log('\n## Client (npx tsx bench/client.ts)\n');
  console.log(formatClientBench(await benchClient(stack.url)));

  console.log('\n## Compaction (merging small segments)\n');
  const merge = await benchCompaction(stack, 'bench-merge');
  console.log(`merged ${merge.segments} segments of ~${merge.segmentBytes} B (${merge.mergedMiB.toFixed(1)} MiB) into ${merge.objectsAfter} objects in ${merge.seconds.toFixed(2)} s: ${merge.mibPerSec.toFixed(1)} MiB/s`);
  console.log(`S3 requests: ${JSON.stringify(merge.s3Requests)}`);
  console.log(`DynamoDB requests: ${JSON.stringify(merge.dynamoRequests)}\n`);
  table(dayOfTraffic(merge));

  console.log('\n## Compaction cost as the log grows (npx tsx bench/compaction-scale-main.ts)\n');
  const scaleRows = [];
  for (const entries of [1_000, 10_000, 100_000]) scaleRows.push(await benchCompactionScale(stack, entries));
  table([['index entries', 'first visit (whole-log sweep)', 'visit with nothing due'], ...scaleRows.map((r): [string, string, string] => [String(r.entries), formatCost(r.firstVisit), formatCost(r.nothingDue)])]);
  console.log();
  table([['index entries', 'steady retention visit (cut 300, release 300)', ''], ...scaleRows.map((r): [string, string, string] => [String(r.entries), formatCost(r.steady), ''])]);
  console.log();
  table(costModel(scaleRows.at(-1)!));

  console.log('\n## Consumer groups\n');
  const costs = await benchGroupCosts(stack);
  console.log(`${costs.members} members, 6 partitions, stable: DynamoDB requests per heartbeat ${JSON.stringify(costs.dynamoPerHeartbeat)}, per commit (2 partitions) ${JSON.stringify(costs.dynamoPerCommit)}\n`);
  console.log(`Steady heartbeat by group size (one 1000-partition topic):\n\n${formatHeartbeatScaling(await benchHeartbeatScaling(stack))}\n`);
  console.log(formatGroupsBench(await benchGroups(stack.url)));
  await stack.close();

  console.log('\n## Isolated function instances (SLUICE_INSTANCES; 4 concurrent binary requests)\n');
  console.log(formatInstancesBench(await benchInstances(emulators, [undefined, 1, 4], RUNS, REQUESTS)));

  console.log('\n## Hot partition (1-record JSON requests on one partition; npx tsx bench/hot-partition.ts)\n');
  console.log(formatHotPartition(await benchHotPartition(emulators, RUNS, Number(process.env.BENCH_HOT_REQUESTS ?? 10))));
} finally {
  await emulators.stop();
}
