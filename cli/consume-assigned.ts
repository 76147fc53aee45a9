/**
 * `sluice consume` without `--group`: reads the partitions it names, from where `-o`,
 * `--from-beginning` or `--from-timestamp` say, and stops each at its end (the high
 * watermark at start, or `--until`). Topics a followed `--include` finds later are added by
 * stopping the consumer (its handlers return first, and it keeps each position), assigning
 * it the new partitions too, from their log start, and running it again.
 */
import type { Command } from 'commander';
import { SluiceError } from '../lib/errors.ts';
import type { Admin, ConsumedBatch, TopicAssignment } from '../lib/client/index.ts';
import { type ConsumeOptions, formatter, includeWatch, pastUntil, resolvesClaimChecks, resolveTopics, timestampOf } from './consume.ts';
import { clientFor, writeOut } from './context.ts';
import { consumeBounds, partitionKey } from './consume-bounds.ts';
import { createProgress } from './progress.ts';
import { noteRetries, withReconnect } from './reconnect.ts';

const key = partitionKey;

export async function consumeAssigned(named: readonly string[], options: ConsumeOptions, command: Command): Promise<void> {
  const format = formatter(options);
  const start = options.offset;
  if (start?.kind === 'absolute' && options.partition === undefined) throw new SluiceError('INVALID_REQUEST', '--offset <n> needs --partition');
  const sluice = clientFor(command);
  const admin = sluice.admin();
  const follow = options.follow === true;
  const topics = await resolveTopics(admin, named, options.include, follow);
  const partitions = await describePartitions(admin, topics, options.partition, true);

  const fromBeginning = options.fromBeginning === true || start?.kind === 'earliest';
  const consumer = sluice.consumer({ autoOffsetReset: fromBeginning ? 'earliest' : 'latest', resolveClaimChecks: resolvesClaimChecks(options) });
  const assignments = topics.map((topic): TopicAssignment => ({
    topic,
    partitions: partitions.filter((p) => p.topic === topic).map((p) => p.partition),
    fromBeginning,
    ...(options.fromTimestamp === undefined ? {} : { fromTimestamp: timestampOf(options.fromTimestamp) }),
  }));
  if (assignments.length > 0) consumer.assign(assignments);
  const startOf = new Map<string, number>();
  for (const p of partitions) {
    let offset: number | undefined;
    if (start?.kind === 'fromEnd') offset = Math.max(p.logStartOffset, p.highWatermark - start.count);
    if (start?.kind === 'absolute') {
      offset = Math.min(Math.max(start.offset, p.logStartOffset), p.highWatermark);
      if (offset !== start.offset) process.stderr.write(`Note: offset ${start.offset} is outside ${p.topic}/${p.partition}'s log [${p.logStartOffset}, ${p.highWatermark}]; starting at ${offset}.\n`);
    }
    if (offset !== undefined) consumer.seek({ topic: p.topic, partition: p.partition, offset });
    startOf.set(key(p.topic, p.partition), offset ?? (fromBeginning || options.fromTimestamp !== undefined ? p.logStartOffset : p.highWatermark));
  }

  // Where each partition ends: the high watermark now (unless following), and --until.
  const { ends, total } = consumeBounds(partitions, (p) => startOf.get(key(p.topic, p.partition)) as number, options);
  const progress = createProgress(total);

  let printed = 0;
  let bytes = 0;
  let finished!: () => void;
  let stopped = false;
  const allDone = new Promise<void>((resolve) => (finished = resolve)).then(() => void (stopped = true));
  /** Partitions that met their end inside a batch (--until by time, or a record at the end). */
  const reached = new Set<string>();
  const checkEnds = () => {
    for (const p of partitions) {
      const k = key(p.topic, p.partition);
      if (reached.has(k)) continue;
      const position = consumer.position(p.topic, p.partition);
      if (position !== undefined && position >= (ends.get(k) as number)) {
        reached.add(k);
        consumer.pause([{ topic: p.topic, partitions: [p.partition] }]);
      }
    }
    if (ends.size > 0 && reached.size === ends.size) finished();
  };

  const watch = includeWatch(admin, topics, options);
  const never = new Promise<never>(() => {});
  let created: Promise<string[]> = watch?.next() ?? never;
  /** Stops the consumer and runs it again with `names`' partitions added, each from its log start. */
  const addTopics = async (names: readonly string[]) => {
    const added = await describePartitions(admin, names, options.partition, false);
    if (added.length === 0) return;
    // The consumer keeps each partition's position and pause across runs.
    await consumer.stop();
    for (const p of added) startOf.set(key(p.topic, p.partition), p.logStartOffset);
    for (const [k, end] of consumeBounds(added, (p) => p.logStartOffset, options).ends) ends.set(k, end);
    partitions.push(...added);
    for (const name of new Set(added.map((p) => p.topic))) assignments.push({ topic: name, partitions: added.filter((p) => p.topic === name).map((p) => p.partition), fromBeginning: true });
    consumer.assign(assignments);
  };

  const eachBatch = async ({ batch, isStale }: { batch: ConsumedBatch; isStale: () => boolean }) => {
    const k = key(batch.topic, batch.partition);
    const end = ends.get(k) as number;
    let out = '';
    for (const message of batch.messages) {
      if (isStale() || reached.has(k)) break;
      if (message.offset >= end || pastUntil(options.until, message.offset, message.timestamp)) {
        reached.add(k);
        consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
        break;
      }
      if (options.maxMessages !== undefined && printed >= options.maxMessages) break;
      out += format(batch.topic, batch.partition, message);
      printed++;
      bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
    }
    if (out !== '' && !(await writeOut(out))) finished();
    progress.update(printed, printed, bytes);
    if (options.maxMessages !== undefined && printed >= options.maxMessages) finished();
  };

  // Ctrl-C ends like the end of the log: the progress bar is taken down and the cursor restored.
  const stop = () => finished();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const poll = setInterval(checkEnds, 20);
  noteRetries(consumer);
  try {
    await withReconnect(
      follow,
      async (connected) => {
        for (;;) {
          if (assignments.length > 0) {
            await consumer.run({ eachBatch });
            connected();
            checkEnds();
          }
          const found = await Promise.race([allDone.then(() => undefined), assignments.length > 0 ? consumer.done().then(() => undefined) : never, created]);
          if (found === undefined) return;
          created = watch?.next() ?? never;
          await addTopics(found);
        }
      },
      () => stopped,
    );
  } finally {
    watch?.stop();
    clearInterval(poll);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    progress.stop();
    await consumer.stop();
  }
}

/** The partitions of `topics` to read (only `partition` when given: a topic without it is an error at start, skipped when found later). */
async function describePartitions(admin: Admin, topics: readonly string[], partition: number | undefined, atStart: boolean) {
  return (await Promise.all(topics.map((t) => admin.describeTopic(t)))).flatMap((description) => {
    const chosen = partition === undefined ? description.partitions : description.partitions.filter((p) => p.partition === partition);
    if (chosen.length === 0 && atStart) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${description.name} has ${description.partitions.length} partitions, no partition ${partition}`);
    return chosen.map((p) => ({ ...p, topic: description.name }));
  });
}
