/**
 * `sluice consume --group`: a group member that prints what it is assigned and commits what
 * it printed. It starts each partition at the group's committed offset, commits as it goes,
 * and commits and leaves the group when it exits (Ctrl-C included). Without `--follow` it
 * exits once every partition it owns is read to the high watermark the partition had at
 * start (as `kcat -G … -e`). With `--follow`, a lost server makes it rejoin after a backoff,
 * from the offsets committed by then, and so do topics a followed `--include` finds later:
 * the member commits and leaves, and a new one joins with them subscribed from their log start.
 */
import type { Command } from 'commander';
import { SluiceError } from '../lib/errors.ts';
import type { EachBatchPayload, GroupConsumer } from '../lib/client/index.ts';
import { type ConsumeOptions, formatter, includeWatch, pastUntil, resolvesClaimChecks, resolveTopics } from './consume.ts';
import { clientFor, writeOut } from './context.ts';
import { consumeBounds, partitionKey } from './consume-bounds.ts';
import { createProgress } from './progress.ts';
import { noteRetries, withReconnect } from './reconnect.ts';

const key = partitionKey;

export async function consumeInGroup(named: readonly string[], groupId: string, options: ConsumeOptions, command: Command): Promise<void> {
  const format = formatter(options);
  for (const [flag, given] of [['--partition', options.partition], ['--offset', options.offset], ['--from-timestamp', options.fromTimestamp]] as const) {
    if (given !== undefined) throw new SluiceError('INVALID_REQUEST', `${flag} cannot be used with --group: the group assigns the partitions and starts them at its committed offsets (reset them with sluice groups reset-offsets)`);
  }
  const sluice = clientFor(command);
  const admin = sluice.admin();
  const follow = options.follow === true;
  const topics = await resolveTopics(admin, named, options.include, follow);
  const describe = async (names: readonly string[]) => (await Promise.all(names.map((t) => admin.describeTopic(t)))).flatMap((d) => d.partitions.map((p) => ({ ...p, topic: d.name })));
  const partitions = await describe(topics);
  const fromBeginning = options.fromBeginning === true;
  const committed = new Map((topics.length === 0 ? [] : await admin.fetchOffsets(groupId, { topics })).map((o) => [key(o.topic, o.partition), o.offset]));
  const { ends, total } = consumeBounds(partitions, (p) => committed.get(key(p.topic, p.partition)) ?? (fromBeginning ? p.logStartOffset : p.highWatermark), options);
  const progress = createProgress(total);

  let printed = 0;
  let bytes = 0;
  let finished!: () => void;
  let stopped = false;
  const allDone = new Promise<void>((resolve) => (finished = resolve)).then(() => void (stopped = true));
  /** Partitions whose records up to their end were printed (found inside a batch). */
  const reached = new Set<string>();
  let consumer: GroupConsumer | undefined;
  const atEnd = (c: GroupConsumer, topic: string, partition: number) => reached.has(key(topic, partition)) || (c.position(topic, partition) ?? -1) >= (ends.get(key(topic, partition)) ?? 0);
  const checkEnds = () => {
    const owned = consumer?.assignment() ?? [];
    if (owned.length > 0 && owned.every((p) => atEnd(consumer as GroupConsumer, p.topic, p.partition))) finished();
  };
  const eachBatch = (member: GroupConsumer) => async ({ batch, isStale, resolveOffset }: EachBatchPayload) => {
    const k = key(batch.topic, batch.partition);
    const end = ends.get(k) ?? 0;
    let out = '';
    let lastPrinted: number | undefined;
    let cut = false;
    for (const message of batch.messages) {
      if (isStale()) break;
      if (message.offset >= end || pastUntil(options.until, message.offset, message.timestamp)) reached.add(k);
      cut = reached.has(k) || (options.maxMessages !== undefined && printed >= options.maxMessages);
      if (cut) break;
      out += format(batch.topic, batch.partition, message);
      printed++;
      bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
      lastPrinted = message.offset;
    }
    if (out !== '' && !(await writeOut(out))) finished();
    // Only what was printed counts as processed: pausing the partition makes the batch stale,
    // so the group commits up to the last record printed and not past it.
    if (lastPrinted !== undefined) resolveOffset(lastPrinted);
    if (cut) member.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
    progress.update(printed, printed, bytes);
    if (options.maxMessages !== undefined && printed >= options.maxMessages) finished();
  };
  const stop = () => finished();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const poll = setInterval(checkEnds, 20);
  const watch = includeWatch(admin, topics, options);
  const never = new Promise<never>(() => {});
  let created: Promise<string[]> = watch?.next() ?? never;
  /** Topics found after start: read from their log start, since all their records came after it. */
  const discovered: string[] = [];
  const addTopics = async (names: readonly string[]) => {
    const added = await describe(names);
    for (const [k, end] of consumeBounds(added, (p) => p.logStartOffset, options).ends) ends.set(k, end);
    discovered.push(...names);
  };
  try {
    await withReconnect(
      follow,
      async (connected) => {
        for (;;) {
          let found: string[] | undefined;
          if (topics.length + discovered.length === 0) found = await Promise.race([allDone.then(() => undefined), created]);
          else {
            const member: GroupConsumer = sluice.consumer({ groupId, autoOffsetReset: fromBeginning ? 'earliest' : 'latest', resolveClaimChecks: resolvesClaimChecks(options) });
            consumer = member;
            noteRetries(member);
            if (topics.length > 0) member.subscribe({ topics });
            if (discovered.length > 0) member.subscribe({ topics: discovered, fromBeginning: true });
            try {
              await member.run({ eachBatch: eachBatch(member) });
              connected();
              found = await Promise.race([allDone.then(() => undefined), member.done().then(() => undefined), created]);
            } finally {
              await member.stop().catch(() => {});
            }
          }
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
  }
}
