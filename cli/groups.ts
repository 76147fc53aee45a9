/**
 * `sluice groups list|describe|reset-offsets`, after kafka-consumer-groups: a lag table per
 * partition for people, `--json` for scripts.
 */
import type { Command } from 'commander';
import { SluiceError } from '../lib/errors.ts';
import type { GroupDescription, OffsetResetTarget } from '../lib/client/index.ts';
import { timestampOf } from './consume.ts';
import { clientFor, nonNegativeInteger, writeOut } from './context.ts';
import { table } from './format.ts';

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
  topic: string;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  toDatetime?: string;
  json?: boolean;
}

/** The one target the options name; kafka-consumer-groups' flags. */
function resetTarget(options: ResetOptions): OffsetResetTarget {
  const given = [options.toEarliest === true, options.toLatest === true, options.toOffset !== undefined, options.toDatetime !== undefined].filter(Boolean).length;
  if (given !== 1) throw new SluiceError('INVALID_REQUEST', 'Give exactly one of --to-earliest, --to-latest, --to-offset <n> and --to-datetime <ISO-8601>');
  const { topic } = options;
  if (options.toEarliest === true) return { topic, to: 'earliest' };
  if (options.toLatest === true) return { topic, to: 'latest' };
  if (options.toOffset !== undefined) return { topic, offset: options.toOffset };
  return { topic, timestamp: timestampOf(options.toDatetime as string, '--to-datetime') };
}

async function print(json: boolean | undefined, value: unknown, human: () => string): Promise<void> {
  await writeOut(json === true ? `${JSON.stringify(value, null, 2)}\n` : human());
}

export function groupsCommand(program: Command): void {
  const groups = program.command('groups').description('list and describe consumer groups (members, lag), and reset their committed offsets');

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
    .description("set the committed offset of every partition of a topic; only while the group has no live member")
    .requiredOption('-t, --topic <topic>', 'the topic whose offsets to reset')
    .option('--to-earliest', 'to the log start')
    .option('--to-latest', 'to the log end (skip everything so far)')
    .option('--to-offset <n>', 'to this offset (clamped into the log)', nonNegativeInteger)
    .option('--to-datetime <ISO-8601|ms>', 'to the first record at or after this time')
    .option('--json', 'print JSON')
    .action(async (name: string, options: ResetOptions, command: Command) => {
      const offsets = await clientFor(command).admin().resetOffsets(name, resetTarget(options));
      await print(options.json, offsets, () => table([['TOPIC', 'PARTITION', 'NEW-OFFSET'], ...offsets.map((o) => [o.topic, o.partition, o.offset])]));
    });
}
