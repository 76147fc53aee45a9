/**
 * `sluice dlq inspect|replay <topic>`: the dead letters a retrying consumer
 * (consumer.run({ retry })) wrote, with their origin and error; and sending them back to
 * their original topic (or another) — a dry run unless `--execute`, like `groups reset-offsets`.
 * A replay leaves the dead-letter topic as it is: trim it afterwards with
 * `topics delete-records` up to the offsets it printed.
 */
import type { Command } from 'commander';
import { SluiceError } from '../lib/errors.ts';
import { readDeadLetters, replayMessage, type DeadLetter } from '../lib/client/dead-letters.ts';
import { clientFor, positiveInteger, writeOut } from './context.ts';
import { table } from './format.ts';

const text = (value: Buffer | null) => (value === null ? null : value.toString('utf8'));
const origin = (l: DeadLetter) => (l.origin === undefined ? '-' : `${l.origin.topic}/${l.origin.partition}@${l.origin.offset}`);

interface LetterJson {
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  origin: DeadLetter['origin'] | null;
  attempts: number | null;
  error: DeadLetter['error'] | null;
  reason: string | null;
}

/** A dead letter as `--json` prints it. */
function letterJson(l: DeadLetter): LetterJson {
  return {
    partition: l.partition,
    offset: l.offset,
    timestamp: l.message.timestamp,
    key: text(l.message.key),
    origin: l.origin ?? null,
    attempts: l.attempts ?? null,
    error: l.error ?? null,
    reason: l.reason ?? null,
  };
}

function inspectTable(letters: readonly DeadLetter[]): string {
  return table([
    ['PARTITION', 'OFFSET', 'KEY', 'ORIGIN', 'ATTEMPTS', 'REASON', 'ERROR'],
    ...letters.map((l) => [l.partition, l.offset, text(l.message.key) ?? '-', origin(l), l.attempts ?? '-', l.reason ?? '-', l.error === undefined ? '-' : `${l.error.name}: ${l.error.message}`]),
  ]);
}

/** Where `--to` sends a dead letter: its original topic, or the one named. */
function destination(to: string, letter: DeadLetter): string {
  if (to !== 'original') return to;
  if (letter.origin === undefined) throw new SluiceError('INVALID_REQUEST', `${letter.topic}/${letter.partition}@${letter.offset} has no sluice.original.topic header: name a topic with --to <topic>`);
  return letter.origin.topic;
}

export function dlqCommand(program: Command): void {
  const dlq = program.command('dlq').description('inspect and replay the dead letters of consumer.run({ retry })');

  dlq
    .command('inspect <topic>')
    .description('list the dead letters (oldest first per partition) with their origin, attempts and error')
    .option('--max-messages <n>', 'list at most n (default 1000)', positiveInteger)
    .option('--json', 'print one JSON object per dead letter and line')
    .action(async (topic: string, options: { maxMessages?: number; json?: boolean }, command: Command) => {
      const max = options.maxMessages ?? 1000;
      const shown: DeadLetter[] = [];
      let seen = 0;
      await readDeadLetters(clientFor(command), topic, (letters) => {
        seen += letters.length;
        shown.push(...letters.slice(0, max - shown.length));
        return shown.length < max;
      });
      if (options.json === true) await writeOut(shown.map((l) => `${JSON.stringify(letterJson(l))}\n`).join(''));
      else await writeOut(shown.length === 0 ? `No dead letters in ${topic}.\n` : inspectTable(shown));
      if (seen > shown.length) process.stderr.write(`Showing the first ${max}; raise --max-messages to see more.\n`);
    });

  dlq
    .command('replay <topic>')
    .description('plan sending the dead letters back and print the plan; with --execute, send them (the dead-letter topic is left as it is)')
    .option('--to <original|topic>', 'each to its original topic and partition, or all to this topic', 'original')
    .option('--dry-run', 'print the plan and send nothing (the default)')
    .option('--execute', 'send them')
    .option('--json', 'print one JSON object per dead letter and line')
    .action(async (topic: string, options: { to: string; dryRun?: boolean; execute?: boolean; json?: boolean }, command: Command) => {
      if (options.execute === true && options.dryRun === true) throw new SluiceError('INVALID_REQUEST', 'Give one of --dry-run and --execute');
      const sluice = clientFor(command);
      const producer = options.execute === true ? sluice.producer({ idempotent: true }) : undefined;
      let count = 0;
      try {
        await readDeadLetters(sluice, topic, async (letters) => {
          const planned = letters.map((letter) => ({ letter, to: destination(options.to, letter) }));
          const placed = producer === undefined ? [] : await Promise.all(planned.map(({ letter, to }) => producer.send({ topic: to, messages: [replayMessage(letter, to)] }).then(([meta]) => meta)));
          count += planned.length;
          const rows = planned.map(({ letter, to }, i) => ({ ...letterJson(letter), to, placed: placed[i] === undefined ? null : { partition: placed[i].partition, offset: placed[i].offset } }));
          return writeOut(
            options.json === true
              ? rows.map((r) => `${JSON.stringify(r)}\n`).join('')
              : rows.map((r, i) => `${topic}/${r.partition}@${r.offset} key=${r.key ?? '-'} (${origin(planned[i]!.letter)}) -> ${r.to}${r.placed === null ? '' : `/${r.placed.partition}@${r.placed.offset}`}\n`).join(''),
          );
        });
      } finally {
        await producer?.disconnect();
      }
      if (producer === undefined) process.stderr.write(`Dry run: nothing was sent; add --execute to replay these ${count} dead letters.\n`);
      else process.stderr.write(`Replayed ${count} dead letters; ${topic} is unchanged (trim it with sluice topics delete-records).\n`);
    });
}
