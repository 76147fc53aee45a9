/**
 * `sluice topics offsets <topic>`, after kafka-get-offsets: per partition, the offset for a
 * time — the first record at or after a timestamp, or the log start / end — printed as
 * kafka-get-offsets prints it (`topic:partition:offset`), or as JSON.
 */
import type { Command } from 'commander';
import { SluiceError } from '../lib/errors.ts';
import type { OffsetSpec } from '../lib/client/index.ts';
import { clientFor, nonNegativeInteger, writeOut } from './context.ts';

/** kafka-get-offsets' `--time`: -1 / latest, -2 / earliest, ms since the epoch or an ISO-8601 date. */
export function offsetSpecOf(value: string): OffsetSpec {
  if (value === 'latest' || value === '-1') return 'latest';
  if (value === 'earliest' || value === '-2') return 'earliest';
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new SluiceError('INVALID_REQUEST', `--time must be latest (-1), earliest (-2), ms since the epoch or an ISO-8601 date, got ${JSON.stringify(value)}`);
  return ms;
}

/** Collects `-p 0 -p 2` and `-p 0,2`. */
function partitionList(value: string, previous: number[] = []): number[] {
  return [...previous, ...value.split(',').map(nonNegativeInteger)];
}

export function topicOffsetsCommand(topics: Command): void {
  topics
    .command('offsets <topic>')
    .description('offsets by time, per partition (kafka-get-offsets): the first record at or after --time, or the log start / end')
    .option('--time <time>', 'latest (-1), earliest (-2), ms since the epoch or an ISO-8601 date', 'latest')
    .option('-p, --partitions <n,...>', 'only these partitions (default: all)', partitionList)
    .option('--json', 'print JSON: [{ partition, offset, timestamp }]')
    .action(async (topic: string, options: { time: string; partitions?: number[]; json?: boolean }, command: Command) => {
      const spec = offsetSpecOf(options.time);
      const admin = clientFor(command).admin();
      const { partitions } = await admin.describeTopic(topic);
      const wanted = options.partitions ?? partitions.map((p) => p.partition);
      const missing = wanted.filter((p) => p >= partitions.length);
      if (missing.length > 0) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${topic} has ${partitions.length} partitions, no partition ${missing.join(', ')}`);
      const found = await Promise.all(wanted.map(async (partition) => ({ partition, ...(await admin.listOffsets(topic, partition, spec)) })));
      const rows = found.map(({ partition, offset, timestamp }) => ({ partition, offset, timestamp }));
      await writeOut(options.json === true ? `${JSON.stringify(rows, null, 2)}\n` : rows.map((r) => `${topic}:${r.partition}:${r.offset}\n`).join(''));
    });
}
