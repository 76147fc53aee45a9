/**
 * CPU per append on a hot partition: what 48 producers of 1-record requests cost each
 * process of the local stack per append, with group commit and without it
 * (SLUICE_GROUP_COMMIT=off), after a warm-up. One producer is bound by latency and 48 by
 * CPU on a small machine, so this is what the appends/s ratio of bench/hot-partition.ts
 * rests on. Reads CPU times from /proc (Linux). Run with `npx tsx bench/hot-partition-cpu.ts`.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { startEmulators, type Emulators } from '../local/emulators.ts';
import { hotRun, startMode } from './hot-partition.ts';

/** Linux's USER_HZ: /proc reports CPU times in these ticks. */
const TICKS_PER_SECOND = 100;

function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

export interface CpuRow {
  mode: string;
  appendsPerSec: number;
  dynamoMs: number;
  s3Ms: number;
  nodeMs: number;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
}

/** Medians over `runs` runs of 48 producers × `perProducer` requests, each mode after its own warm-up. */
export async function benchHotCpu(emulators: Emulators, runs: number, perProducer: number): Promise<CpuRow[]> {
  const rows: CpuRow[] = [];
  for (const groupCommit of [true, false]) {
    const stack = await startMode(emulators, groupCommit);
    try {
      const samples: Array<Omit<CpuRow, 'mode'>> = [];
      for (let run = 0; run <= runs; run++) {
        const topic = `cpu-${run}`;
        await fetch(`${stack.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: topic, partitions: 1 }) });
        const before = [procCpuMs(emulators.pids.dynamo), procCpuMs(emulators.pids.s3), ownCpuMs()];
        const row = await hotRun(stack, topic, 48, perProducer);
        const after = [procCpuMs(emulators.pids.dynamo), procCpuMs(emulators.pids.s3), ownCpuMs()];
        const appends = 48 * perProducer;
        const [dynamoMs, s3Ms, nodeMs] = after.map((a, i) => (a - (before[i] as number)) / appends) as [number, number, number];
        if (run > 0) samples.push({ appendsPerSec: row.appendsPerSec, dynamoMs, s3Ms, nodeMs });
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
      rows.push({
        mode: groupCommit ? 'group commit' : 'before (SLUICE_GROUP_COMMIT=off)',
        appendsPerSec: median(samples.map((s) => s.appendsPerSec)),
        dynamoMs: median(samples.map((s) => s.dynamoMs)),
        s3Ms: median(samples.map((s) => s.s3Ms)),
        nodeMs: median(samples.map((s) => s.nodeMs)),
      });
    } finally {
      await stack.close();
    }
  }
  return rows;
}

export function formatHotCpu(rows: CpuRow[]): string {
  const lines = ['| code (48 producers) | appends/s | DynamoDB Local | s3rver | Node (instances, local API, load) | all |', '|---|---:|---:|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.mode} | ${r.appendsPerSec.toFixed(1)} | ${r.dynamoMs.toFixed(2)} ms | ${r.s3Ms.toFixed(2)} ms | ${r.nodeMs.toFixed(2)} ms | ${(r.dynamoMs + r.s3Ms + r.nodeMs).toFixed(2)} ms |`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const emulators = await startEmulators();
  try {
    console.log(`node ${process.version}, ${new Date().toISOString().slice(0, 10)}: CPU per append, medians of ${process.env.BENCH_RUNS ?? 3} runs\n`);
    console.log(formatHotCpu(await benchHotCpu(emulators, Number(process.env.BENCH_RUNS ?? 3), Number(process.env.BENCH_HOT_REQUESTS ?? 10))));
  } finally {
    await emulators.stop();
  }
}
