/**
 * A hot partition: 1 and 48 concurrent producers of 1-record JSON requests on one partition,
 * with group commit (lib/log/group-commit.ts) and without it (SLUICE_GROUP_COMMIT=off, the
 * one-draft-per-transaction loop every commit used before), measured in the same run,
 * interleaved, so a machine loaded by other work weighs on both alike. The local stack runs
 * 2 isolated instances per function, as `npm run local` does by default. Latency is per
 * append, from its first attempt to its 200 (a 429 is retried after its Retry-After, as the
 * client does). Run alone with `npx tsx bench/hot-partition.ts`.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { startEmulators, type Emulators } from '../local/emulators.ts';
import { startStack, type LocalStack } from '../local/stack.ts';

export interface HotRow {
  mode: 'group commit' | 'before (SLUICE_GROUP_COMMIT=off)';
  producers: number;
  appendsPerSec: number;
  /** Share of produce answers that were 429. */
  throttledShare: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const INSTANCES = 2;
/** Pause after each run, so one run's background work does not weigh on the next. */
const SETTLE_MS = 2_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] as number;
}

/** A local stack of INSTANCES instances per function, with group commit on or off. */
export async function startMode(emulators: Emulators, groupCommit: boolean): Promise<LocalStack> {
  const suffix = randomBytes(3).toString('hex');
  // Instances copy this process's environment when the stack starts.
  const saved = process.env.SLUICE_GROUP_COMMIT;
  process.env.SLUICE_GROUP_COMMIT = groupCommit ? 'on' : 'off';
  try {
    const stack = await startStack({ emulators, tableName: `bench-hot-${suffix}`, bucketName: `bench-hot-${suffix}`, port: 0, instances: INSTANCES });
    await stack.warm();
    return stack;
  } finally {
    if (saved === undefined) delete process.env.SLUICE_GROUP_COMMIT;
    else process.env.SLUICE_GROUP_COMMIT = saved;
  }
}

/** `producers` producers each send `perProducer` 1-record requests, one at a time, to partition 0. */
export async function hotRun(stack: LocalStack, topic: string, producers: number, perProducer: number): Promise<Omit<HotRow, 'mode'>> {
  const latencies: number[] = [];
  let answers = 0;
  let throttled = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      for (let i = 0; i < perProducer; i++) {
        const body = JSON.stringify({ records: [{ value: `${p}:${i}`, partition: 0 }] });
        const first = performance.now();
        for (;;) {
          const res = await fetch(`${stack.url}/v1/topics/${topic}/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          await res.arrayBuffer();
          answers++;
          if (res.status === 200) break;
          if (res.status !== 429) throw new Error(`produce failed: ${res.status}`);
          throttled++;
          await new Promise((resolve) => setTimeout(resolve, Number(res.headers.get('retry-after') ?? 1) * 1000));
        }
        latencies.push(performance.now() - first);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { producers, appendsPerSec: (producers * perProducer) / seconds, throttledShare: throttled / answers, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), maxMs: latencies.at(-1) as number };
}

/** Medians over `runs` (after one warm-up) of 1 and 48 producers, with and without group commit, interleaved. */
export async function benchHotPartition(emulators: Emulators, runs: number, perProducer: number): Promise<HotRow[]> {
  const modes = [
    { mode: 'before (SLUICE_GROUP_COMMIT=off)' as const, stack: await startMode(emulators, false) },
    { mode: 'group commit' as const, stack: await startMode(emulators, true) },
  ];
  const results = new Map<string, Array<Omit<HotRow, 'mode'>>>();
  try {
    for (let run = 0; run <= runs; run++) {
      for (const producers of [1, 48]) {
        for (const { mode, stack } of modes) {
          const topic = `hot-${run}-${producers}`;
          await fetch(`${stack.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: topic, partitions: 1 }) });
          // One producer sends as many requests as the 48 send each, times 4, for a stable median.
          const row = await hotRun(stack, topic, producers, producers === 1 ? perProducer * 4 : perProducer);
          if (run > 0) results.set(`${mode}|${producers}`, [...(results.get(`${mode}|${producers}`) ?? []), row]);
          // The compaction a run triggered (merging its small segments) finishes before the next run starts, not during it.
          await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        }
      }
    }
  } finally {
    for (const { stack } of modes) await stack.close();
  }
  return [...results].map(([key, rows]) => {
    const [mode, producers] = key.split('|') as [HotRow['mode'], string];
    return {
      mode,
      producers: Number(producers),
      appendsPerSec: median(rows.map((r) => r.appendsPerSec)),
      throttledShare: median(rows.map((r) => r.throttledShare)),
      p50Ms: median(rows.map((r) => r.p50Ms)),
      p99Ms: median(rows.map((r) => r.p99Ms)),
      maxMs: median(rows.map((r) => r.maxMs)),
    };
  });
}

/** A Markdown table of `rows`, and the ratios the targets are stated in. */
export function formatHotPartition(rows: HotRow[]): string {
  const lines = ['| code | producers | appends/s | 429 share | p50 | p99 | max |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.mode} | ${r.producers} | ${r.appendsPerSec.toFixed(1)} | ${(r.throttledShare * 100).toFixed(1)} % | ${r.p50Ms.toFixed(0)} ms | ${r.p99Ms.toFixed(0)} ms | ${r.maxMs.toFixed(0)} ms |`);
  const find = (mode: HotRow['mode'], producers: number) => rows.find((r) => r.mode === mode && r.producers === producers);
  const new1 = find('group commit', 1);
  const new48 = find('group commit', 48);
  const old1 = find('before (SLUICE_GROUP_COMMIT=off)', 1);
  if (new1 !== undefined && new48 !== undefined && old1 !== undefined) {
    lines.push('');
    lines.push(`group commit: appends/s at 48 producers = ${(new48.appendsPerSec / new1.appendsPerSec).toFixed(2)}× the 1-producer figure; 1-producer p50 ${((new1.p50Ms / old1.p50Ms - 1) * 100).toFixed(0)} % against before (same run).`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const emulators = await startEmulators();
  try {
    console.log(`node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`);
    console.log(formatHotPartition(await benchHotPartition(emulators, Number(process.env.BENCH_RUNS ?? 3), Number(process.env.BENCH_HOT_REQUESTS ?? 10))));
  } finally {
    await emulators.stop();
  }
}
