/**
 * The cost of isolated function instances (SLUICE_INSTANCES): binary produce and fetch
 * through the local stack with the handlers in the stack's own process, and with 1 and 4
 * worker-thread instances per function. Run alone with `npx tsx bench/instances.ts`.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { startEmulators, type Emulators } from '../local/emulators.ts';
import { startStack } from '../local/stack.ts';
import { PARTITIONS, benchFetch, benchProduce } from './stack.ts';

export interface InstancesRow {
  /** undefined: the handlers run in the stack's process. */
  instances: number | undefined;
  produceMiBps: number;
  fetchMiBps: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Medians over `runs` (after one warm-up run) of binary produce and fetch, per instance count. */
export async function benchInstances(emulators: Emulators, counts: Array<number | undefined>, runs: number, requests: number): Promise<InstancesRow[]> {
  const rows: InstancesRow[] = [];
  for (const instances of counts) {
    const suffix = randomBytes(3).toString('hex');
    const stack = await startStack({ emulators, tableName: `bench-inst-${suffix}`, bucketName: `bench-inst-${suffix}`, port: 0, ...(instances === undefined ? {} : { instances }) });
    await stack.warm();
    const produce: number[] = [];
    const fetched: number[] = [];
    for (let run = 0; run <= runs; run++) {
      const topic = `bench-${run}`;
      await fetch(`${stack.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: topic, partitions: PARTITIONS, configs: { 'max.message.bytes': 4194304 } }) });
      const [binaryProduce] = await benchProduce(stack, topic, requests);
      const [binaryFetch] = await benchFetch(stack, topic);
      if (run === 0) continue;
      produce.push(binaryProduce?.mibPerSec ?? 0);
      fetched.push(binaryFetch?.mibPerSec ?? 0);
    }
    await stack.close();
    rows.push({ instances, produceMiBps: median(produce), fetchMiBps: median(fetched) });
  }
  return rows;
}

/** A Markdown table of `rows`, with ratios to the first row. */
export function formatInstancesBench(rows: InstancesRow[]): string {
  const base = rows[0] as InstancesRow;
  const lines = ['| handlers | produce binary MiB/s | vs. first | fetch binary MiB/s | vs. first |', '|---|---|---|---|---|'];
  for (const row of rows) {
    const name = row.instances === undefined ? 'in the stack process' : `SLUICE_INSTANCES=${row.instances}`;
    lines.push(`| ${name} | ${row.produceMiBps.toFixed(1)} | ${(row.produceMiBps / base.produceMiBps).toFixed(2)} | ${row.fetchMiBps.toFixed(1)} | ${(row.fetchMiBps / base.fetchMiBps).toFixed(2)} |`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const emulators = await startEmulators();
  try {
    const rows = await benchInstances(emulators, [undefined, 1, 4], Number(process.env.BENCH_RUNS ?? 3), Number(process.env.BENCH_REQUESTS ?? 32));
    console.log(formatInstancesBench(rows));
  } finally {
    await emulators.stop();
  }
}
