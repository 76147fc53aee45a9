/**
 * `sluice groups list|describe|reset-offsets|delete|delete-offsets`, after
 * kafka-consumer-groups: a lag table per partition for people, `--json` for scripts; a reset
 * is a dry run unless `--execute`; deletions, like `--delete` and `--delete-offsets`, apply
 * only to a group with no live member (or none subscribed to the topic).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { SluiceError } from '../lib/errors.ts';
import type { GroupDescription } from '../lib/client/index.ts';
import { timestampOf } from './consume.ts';
import { clientFor, nonNegativeInteger, writeOut } from './context.ts';
import { table } from './format.ts';
import { executeReset, planReset, topicSelection, type ResetTarget, type TopicSelection } from './reset-plan.ts';

function selection(value: string): TopicSelection {
  try {
    return topicSelection(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

const dash = (value: number | string | null) => (value === null ? '-' : value);

/** Header, the lag table (kafka-consumer-groups --describe's columns) and the members. */
export function describeGroupText(group: GroupDescription): string {
  const timing = group.sessionTimeoutMs === null ? '' : `  Session timeout: ${group.sessionTimeoutMs} ms  Heartbeat interval: ${group.heartbeatIntervalMs} ms`;
  const header = `Group: ${group.group}  State: ${group.state}  Members: ${group.members.length}  Assignor: ${group.assignor}  Epoch: ${group.groupEpoch}${timing}\n`;
  const partitions = table([
    ['TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID'],
    ...group.partitions.map((p) => [p.topic, p.partition, dash(p.committedOffset), p.highWatermark, dash(p.lag), dash(p.owner)]),
  ]);
  const members =
    group.members.length === 0
      ? ''
      : `\n${table([
          ['CONSUMER-ID', 'EPOCH', 'ASSIGNMENT', 'TARGET'],
          ...group.members.map((m) => [m.memberId, m.memberEpoch, m.assignment.map((a) => `${a.topic}:${a.partitions.join(',')}`).join(' ') || '-', m.targetAssignment.map((a) => `${a.topic}:${a.partitions.join(',')}`).join(' ') || '-']),
        ])}`;
  return `${header}\n${group.partitions.length === 0 ? 'No partitions (no subscriptions or commits).\n' : partitions}${members}`;
}

interface ResetOptions {
  topic: TopicSelection[];
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  toDatetime?: string;
  shiftBy?: number;
  toCurrent?: boolean;
  execute?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** The one target the options name; kafka-consumer-groups' flags. */
function resetTarget(options: ResetOptions): ResetTarget {
  const targets = [
    options.toEarliest === true && ({ kind: 'earliest' } as const),
    options.toLatest === true && ({ kind: 'latest' } as const),
    options.toOffset !== undefined && ({ kind: 'offset', offset: options.toOffset } as const),
    options.toDatetime !== undefined && ({ kind: 'timestamp', timestampMs: timestampOf(options.toDatetime, '--to-datetime') } as const),
    options.shiftBy !== undefined && ({ kind: 'shift', by: options.shiftBy } as const),
    options.toCurrent === true && ({ kind: 'current' } as const),
  ].filter((t) => t !== false);
  if (targets.length !== 1) throw new SluiceError('INVALID_REQUEST', 'Give exactly one of --to-earliest, --to-latest, --to-offset <n>, --to-datetime <ISO-8601>, --shift-by <n> and --to-current');
  return targets[0] as ResetTarget;
}

function integer(value: string): number {
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('Not an integer.');
  return Number(value);
}

function collectTopic(value: string, previous: TopicSelection[] = []): TopicSelection[] {
  try {
    return [...previous, topicSelection(value)];
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

async function print(json: boolean | undefined, value: unknown, human: () => string): Promise<void> {
  await writeOut(json === true ? `${JSON.stringify(value, null, 2)}\n` : human());
}

export function groupsCommand(program: Command): void {
  const groups = program.command('groups').description('list and describe consumer groups (members, lag), reset their committed offsets, delete them or their offsets');

  groups
    .command('list')
    .description('list consumer groups')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const list = await clientFor(command).admin().listGroups();
      await print(options.json, list, () => table([['GROUP'], ...list.map((g) => [g.group])]));
    });

  groups
    .command('describe <group>')
    .description('state, members, and per partition the committed offset, log end, lag and owner')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      const group = await clientFor(command).admin().describeGroup(name);
      await print(options.json, group, () => describeGroupText(group));
    });

  groups
    .command('reset-offsets <group>')
    .description('plan new committed offsets and print them; with --execute, commit them (only while the group has no live member)')
    .requiredOption('-t, --topic <topic[:p,...]>', 'a topic, or some of its partitions (t:0,1); repeat for more', collectTopic)
    .option('--to-earliest', 'to the log start')
    .option('--to-latest', 'to the log end (skip everything so far)')
    .option('--to-offset <n>', 'to this offset (clamped into the log)', nonNegativeInteger)
    .option('--to-datetime <ISO-8601|ms>', 'to the first record at or after this time')
    .option('--shift-by <n>', 'move the committed offset by n (negative: back), clamped into the log', integer)
    .option('--to-current', 'to the committed offset (clamped into the log)')
    .option('--dry-run', 'print the plan and change nothing (the default)')
    .option('--execute', 'commit the plan')
    .option('--json', 'print JSON')
    .action(async (name: string, options: ResetOptions, command: Command) => {
      if (options.execute === true && options.dryRun === true) throw new SluiceError('INVALID_REQUEST', 'Give one of --dry-run and --execute');
      const admin = clientFor(command).admin();
      const { offsets, skipped } = await planReset(admin, name, options.topic, resetTarget(options));
      if (skipped.length > 0) process.stderr.write(`Skipped (no committed offset): ${skipped.join(' ')}\n`);
      if (options.execute === true) await executeReset(admin, name, offsets);
      else process.stderr.write('Dry run: nothing was changed; add --execute to commit these offsets.\n');
      const rows = offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset }));
      await print(options.json, rows, () => table([['TOPIC', 'PARTITION', 'NEW-OFFSET'], ...rows.map((o) => [o.topic, o.partition, o.offset])]));
    });

  groups
    .command('delete <group>')
    .description('delete a group and its committed offsets (only while it has no live member)')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      const [result] = await clientFor(command).admin().deleteGroups([name]);
      if (result?.error !== undefined) throw result.error;
      await print(options.json, { group: name, deleted: true }, () => `Deleted group ${name}.\n`);
    });

  groups
    .command('delete-offsets <group> <topic[:p,...]>')
    .description("delete a group's committed offsets of a topic, or of some of its partitions (refused while a live member subscribes to the topic)")
    .option('--json', 'print JSON')
    .action(async (name: string, selected: string, options: { json?: boolean }, command: Command) => {
      const { topic, partitions } = selection(selected);
      const deleted = await clientFor(command).admin().deleteOffsets(name, topic, partitions);
      await print(options.json, deleted, () =>
        deleted.partitions.length === 0 ? `Group ${name} had no committed offsets of ${topic}${partitions === undefined ? '' : `:${partitions.join(',')}`}.\n` : table([['TOPIC', 'PARTITION', 'STATUS'], ...deleted.partitions.map((p) => [topic, p, 'deleted'])]),
      );
    });
}
