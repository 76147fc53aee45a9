/**
 * `sluice consume <topic>`: prints records as kafka-console-consumer does (or as JSON lines,
 * or by a kcat-style `-f` format). Without `--follow` it reads up to the high watermark each
 * partition had when it started and exits, like `kcat -e`; with `--follow` it keeps
 * long-polling for new records until interrupted or `--max-messages` is reached.
 *
 * With `--group` it joins that consumer group instead of reading partitions it names: it
 * starts each partition it is assigned at the group's committed offset, commits what it has
 * printed as it goes, and commits and leaves the group when it exits (Ctrl-C included).
 * Without `--follow` it exits once every partition it owns is read to the high watermark the
 * partition had at start (as `kcat -G … -e`).
 */
import type { Command } from 'commander';
import { SluiceError } from '../lib/errors.ts';
import type { ConsumedBatch, EachBatchPayload, GroupConsumer, TopicAssignment } from '../lib/client/index.ts';
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
  group?: string;
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
    .option('-g, --group <group>', 'consume as a member of this consumer group, from its committed offsets, committing as it goes')
    .action(async (topic: string, options: ConsumeOptions, command: Command) => consume(topic, options, command));
}

function formatter(options: ConsumeOptions): Formatter {
  if (options.formatString !== undefined) return formatStringFormatter(options.formatString);
  if (options.format === 'json') return jsonFormatter();
  if (options.format !== 'text') throw new SluiceError('INVALID_REQUEST', `--format must be text or json, got ${JSON.stringify(options.format)}`);
  return textFormatter({ printKey: options.printKey === true, printHeaders: options.printHeaders === true, separator: unescape(options.keySeparator) });
}

/** Milliseconds since the epoch, or an ISO-8601 date, as `option` was given. */
export function timestampOf(value: string, option = '--from-timestamp'): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new SluiceError('INVALID_REQUEST', `${option} must be ms since the epoch or an ISO-8601 date, got ${JSON.stringify(value)}`);
  return ms;
}

async function consume(topic: string, options: ConsumeOptions, command: Command): Promise<void> {
  if (options.group !== undefined) return consumeInGroup(topic, options.group, options, command);
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

/** `consume --group`: a group member that prints what it is assigned and commits what it printed. */
async function consumeInGroup(topic: string, groupId: string, options: ConsumeOptions, command: Command): Promise<void> {
  const format = formatter(options);
  for (const [flag, given] of [['--partition', options.partition], ['--offset', options.offset], ['--from-timestamp', options.fromTimestamp]] as const) {
    if (given !== undefined) throw new SluiceError('INVALID_REQUEST', `${flag} cannot be used with --group: the group assigns the partitions and starts them at its committed offsets (reset them with sluice groups reset-offsets)`);
  }
  const sluice = clientFor(command);
  const admin = sluice.admin();
  const description = await admin.describeTopic(topic);
  const fromBeginning = options.fromBeginning === true;
  const follow = options.follow === true;
  const ends = new Map(description.partitions.map((p) => [p.partition, p.highWatermark]));
  const committed = new Map((await admin.fetchOffsets(groupId, { topics: [topic] })).map((o) => [o.partition, o.offset]));
  const backlog = description.partitions.reduce((n, p) => n + Math.max(0, p.highWatermark - (committed.get(p.partition) ?? (fromBeginning ? p.logStartOffset : p.highWatermark))), 0);
  const total = options.maxMessages === undefined ? (follow ? 0 : backlog) : follow ? options.maxMessages : Math.min(options.maxMessages, backlog);
  const progress = createProgress(total);
  const consumer: GroupConsumer = sluice.consumer({ groupId, autoOffsetReset: fromBeginning ? 'earliest' : 'latest' });
  consumer.subscribe({ topic });

  let printed = 0;
  let bytes = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  /** Partitions whose records up to their end were printed (found inside a batch). */
  const reached = new Set<number>();
  const atEnd = (partition: number) => !follow && (reached.has(partition) || (consumer.position(topic, partition) ?? -1) >= (ends.get(partition) ?? 0));
  const checkEnds = () => {
    const owned = consumer.assignment();
    if (owned.length > 0 && owned.every((p) => atEnd(p.partition))) finished();
  };
  const eachBatch = async ({ batch, isStale, resolveOffset }: EachBatchPayload) => {
    const end = follow ? Number.POSITIVE_INFINITY : (ends.get(batch.partition) ?? 0);
    let out = '';
    let lastPrinted: number | undefined;
    let cut = false;
    for (const message of batch.messages) {
      if (isStale()) break;
      if (message.offset >= end) reached.add(batch.partition);
      cut = message.offset >= end || (options.maxMessages !== undefined && printed >= options.maxMessages);
      if (cut) break;
      out += format(topic, batch.partition, message);
      printed++;
      bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
      lastPrinted = message.offset;
    }
    if (out !== '' && !(await writeOut(out))) finished();
    // Only what was printed counts as processed: pausing the partition makes the batch stale,
    // so the group commits up to the last record printed and not past it.
    if (lastPrinted !== undefined) resolveOffset(lastPrinted);
    if (cut) consumer.pause([{ topic, partitions: [batch.partition] }]);
    progress.update(printed, printed, bytes);
    if (options.maxMessages !== undefined && printed >= options.maxMessages) finished();
  };
  const stop = () => finished();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await consumer.run({ eachBatch });
  const poll = setInterval(checkEnds, 20);
  try {
    await Promise.race([allDone, consumer.done()]);
  } finally {
    clearInterval(poll);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    progress.stop();
    await consumer.stop();
  }
}
