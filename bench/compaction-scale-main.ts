/** `npx tsx bench/compaction-scale-main.ts`: only the compaction-at-scale section of npm run bench. */
import { randomBytes } from 'node:crypto';
import { startEmulators } from '../local/emulators.ts';
import { startStack } from '../local/stack.ts';
import { benchCompactionScale, costModel, formatCost } from './compaction-scale.ts';

const emulators = await startEmulators();
try {
  const suffix = randomBytes(3).toString('hex');
  process.env.SLUICE_COMPACT_FUNCTION = '';
  const stack = await startStack({ emulators, tableName: `bench-${suffix}`, bucketName: `bench-${suffix}`, port: 0 });
  process.env.SLUICE_COMPACT_FUNCTION = '';
  const sizes = (process.env.BENCH_SCALE_SIZES ?? '1000,10000,100000').split(',').map(Number);
  for (const entries of sizes) {
    const started = performance.now();
    const row = await benchCompactionScale(stack, entries);
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    console.log(`| ${entries} | ${formatCost(row.firstVisit)} | ${formatCost(row.nothingDue)} ${JSON.stringify(row.nothingDue.dynamo)} | ${formatCost(row.steady)} ${JSON.stringify(row.steady.dynamo)} ${JSON.stringify(row.steady.s3)}, cut ${row.steady.cut}, released ${row.steady.released} | built in ${row.buildSeconds.toFixed(0)} s, ${seconds} s in all |`);
    if (entries === sizes.at(-1)) for (const line of costModel(row)) console.log(`| ${line.join(' | ')} |`);
  }
  await stack.close();
} finally {
  await emulators.stop();
}
