/**
 * `sluice consume <topic>`: prints records as kafka-console-consumer does (or as JSON lines,
 * or by a kcat-style `-f` format). Without `--follow` it reads up to the high watermark each
 * partition had when it started and exits, like `kcat -e`; with `--follow` it keeps
 * long-polling for new records until interrupted or `--max-messages` is reached.
 */
import type { Command } from 'commander';
import { SluiceError } from '../lib/errors.ts';
import type { ConsumedBatch, TopicAssignment } from '../lib/client/index.ts';
import { clientFor, nonNegativeInteger, positiveInteger, unescape, writeOut } from './context.ts';
import { formatStringFormatter, jsonFormatter, textFormatter, type Formatter } from './format.ts';
import { createProgress } from './progress.ts';

interface ConsumeOptions {
  partition?: number;
  offset?: string;
  fromBeginning?: boolean;
  fromTimestamp?: string;
  follow?: boolean;
  maxMessages?: number;
  format: string;
  printKey?: boolean;
  printHeaders?: boolean;
  keySeparator: string;
  formatString?: string;
}

export function consumeCommand(program: Command): void {
  program
    .command('consume <topic>')
    .description('print records; exits at the end of the log unless --follow')
    .option('-p, --partition <n>', 'only this partition (default: all)', nonNegativeInteger)
    .option('-o, --offset <offset>', 'start at this offset (needs --partition), or earliest / latest')
    .option('--from-beginning', 'start at the earliest offset (default: latest)')
    .option('--from-timestamp <ms|ISO-8601>', 'start at the first record at or after this time')
    .option('--follow', 'keep waiting for new records')
    .option('-n, --max-messages <n>', 'exit after this many records', positiveInteger)
    .option('--format <format>', 'text or json (one object per line: topic, partition, offset, timestamp, key, value, headers)', 'text')
    .option('--print-key', 'text: print the key before the value')
    .option('--print-headers', 'text: print headers (k:v,…) first')
    .option('--key-separator <sep>', 'text: between fields', '\\t')
    .option('-f, --format-string <fmt>', 'kcat-style format: %t %p %o %T %k %s %K %S %h, e.g. "%k=%s\\n"')
    .action(async (topic: string, options: ConsumeOptions, command: Command) => consume(topic, options, command));
}

function formatter(options: ConsumeOptions): Formatter {
  if (options.formatString !== undefined) return formatStringFormatter(options.formatString);
  if (options.format === 'json') return jsonFormatter();
  if (options.format !== 'text') throw new SluiceError('INVALID_REQUEST', `--format must be text or json, got ${JSON.stringify(options.format)}`);
  return textFormatter({ printKey: options.printKey === true, printHeaders: options.printHeaders === true, separator: unescape(options.keySeparator) });
}

function timestampOf(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new SluiceError('INVALID_REQUEST', `--from-timestamp must be ms since the epoch or an ISO-8601 date, got ${JSON.stringify(value)}`);
  return ms;
}

async function consume(topic: string, options: ConsumeOptions, command: Command): Promise<void> {
  const format = formatter(options);
  const offset = options.offset;
  const numericOffset = offset !== undefined && offset !== 'earliest' && offset !== 'latest';
  if (numericOffset && !/^\d+$/.test(offset)) throw new SluiceError('INVALID_REQUEST', `--offset must be a non-negative integer, earliest or latest, got ${JSON.stringify(offset)}`);
  if (numericOffset && options.partition === undefined) throw new SluiceError('INVALID_REQUEST', '--offset <n> needs --partition');

  const sluice = clientFor(command);
  const description = await sluice.admin().describeTopic(topic);
  const partitions = options.partition === undefined ? description.partitions : description.partitions.filter((p) => p.partition === options.partition);
  if (partitions.length === 0) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${topic} has ${description.partitions.length} partitions, no partition ${options.partition}`);

  const fromBeginning = options.fromBeginning === true || offset === 'earliest';
  const consumer = sluice.consumer({ autoOffsetReset: fromBeginning ? 'earliest' : 'latest' });
  const assignment: TopicAssignment = { topic, partitions: partitions.map((p) => p.partition), fromBeginning };
  if (options.fromTimestamp !== undefined) assignment.fromTimestamp = timestampOf(options.fromTimestamp);
  consumer.assign([assignment]);
  if (numericOffset) consumer.seek({ topic, partition: options.partition as number, offset: Number(offset) });

  // Where a bounded read ends: each partition's high watermark now.
  const follow = options.follow === true;
  const endOffsets = new Map(partitions.map((p) => [p.partition, p.highWatermark]));
  const startEstimate = (p: (typeof partitions)[number]) => (numericOffset ? Number(offset) : fromBeginning ? p.logStartOffset : options.fromTimestamp !== undefined ? p.logStartOffset : p.highWatermark);
  const backlog = partitions.reduce((n, p) => n + Math.max(0, p.highWatermark - startEstimate(p)), 0);
  const total = options.maxMessages === undefined ? (follow ? 0 : backlog) : follow ? options.maxMessages : Math.min(options.maxMessages, backlog);
  const progress = createProgress(total);

  let printed = 0;
  let bytes = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const done = new Set<number>();
  const checkEnds = () => {
    if (follow) return;
    for (const [partition, end] of endOffsets) {
      const position = consumer.position(topic, partition);
      if (!done.has(partition) && position !== undefined && position >= end) {
        done.add(partition);
        consumer.pause([{ topic, partitions: [partition] }]);
      }
    }
    if (done.size === endOffsets.size) finished();
  };

  await consumer.run({
    eachBatch: async ({ batch, isStale }: { batch: ConsumedBatch; isStale: () => boolean }) => {
      let out = '';
      const end = follow ? Number.POSITIVE_INFINITY : (endOffsets.get(batch.partition) as number);
      for (const message of batch.messages) {
        if (message.offset >= end || isStale()) break;
        if (options.maxMessages !== undefined && printed >= options.maxMessages) break;
        out += format(topic, batch.partition, message);
        printed++;
        bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
      }
      if (out !== '' && !(await writeOut(out))) finished();
      progress.update(printed, printed, bytes);
      if (options.maxMessages !== undefined && printed >= options.maxMessages) finished();
    },
  });
  const poll = setInterval(checkEnds, 20);
  checkEnds();
  try {
    await Promise.race([allDone, consumer.done()]);
  } finally {
    clearInterval(poll);
    progress.stop();
    await consumer.stop();
  }
}
