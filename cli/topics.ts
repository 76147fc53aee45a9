/** `sluice topics create|list|describe|alter|delete|delete-records|offsets`: tables for people, `--json` for scripts. */
import type { Command } from 'commander';
import { TOPIC_CONFIG_DEFAULTS } from '../lib/config/defaults.ts';
import { SluiceError } from '../lib/errors.ts';
import { hotPartitions, type TopicDescription } from '../lib/client/index.ts';
import { clientFor, configEntry, nonNegativeInteger, positiveInteger, writeOut } from './context.ts';
import { table } from './format.ts';
import { topicOffsetsCommand } from './topic-offsets.ts';

function describeText(topic: TopicDescription): string {
  const configs = Object.entries(topic.configs).map(([k, v]) => `  ${k}=${v}`).join('\n');
  const hot = new Set(hotPartitions(topic));
  const rate = (n: number | undefined) => (n === undefined ? '-' : String(n));
  const partitions = table([
    ['PARTITION', 'LOG-START', 'HIGH-WATERMARK', 'BYTES', 'SEGMENTS', 'LAST-COMPACTED', 'RECORDS/S', 'BYTES/S', 'HOT'],
    ...topic.partitions.map((p) => [
      p.partition,
      p.logStartOffset,
      p.highWatermark,
      p.bytes,
      p.segments,
      p.lastCompactedAt === null ? '-' : new Date(p.lastCompactedAt).toISOString(),
      rate(p.produceRate?.recordsPerSecond),
      rate(p.produceRate?.bytesPerSecond),
      hot.has(p.partition) ? 'HOT' : '',
    ]),
  ]);
  const note = hot.size === 0 ? '' : `\n${hot.size} hot partition${hot.size === 1 ? '' : 's'} (over twice the mean records/s of the last minute): see docs/CLIENT.md, "Spreading a hot key"\n`;
  return `Topic: ${topic.name}  Id: ${topic.topicId}  Partitions: ${topic.partitions.length}\nConfigs:\n${configs}\n\n${partitions}${note}`;
}

function offsetOrMinusOne(value: string): number {
  return value === '-1' ? -1 : nonNegativeInteger(value);
}

/** Collects repeated `--delete-config <name>`, checking each is a topic config. */
function configName(value: string, previous: string[] = []): string[] {
  if (!Object.hasOwn(TOPIC_CONFIG_DEFAULTS, value)) throw new SluiceError('INVALID_CONFIG', `Unknown topic config ${JSON.stringify(value)}; supported: ${Object.keys(TOPIC_CONFIG_DEFAULTS).join(', ')}`);
  return [...previous, value];
}

/** True when `error` is the SluiceError `code`. */
function isError(error: unknown, code: SluiceError['code']): boolean {
  return error instanceof SluiceError && error.code === code;
}

async function print(json: boolean | undefined, value: unknown, human: () => string): Promise<void> {
  await writeOut(json === true ? `${JSON.stringify(value, null, 2)}\n` : human());
}

export function topicsCommand(program: Command): void {
  const topics = program.command('topics').description('create, list, describe, alter and delete topics');

  topics
    .command('create <topic>')
    .description('create a topic (Kafka defaults apply to configs not given)')
    .option('-p, --partitions <n>', 'partition count', positiveInteger, 1)
    .option('-c, --config <key=value>', 'a topic config, e.g. cleanup.policy=compact,delete; repeat for more', configEntry)
    .option('--if-not-exists', 'succeed without change if the topic exists')
    .option('--json', 'print the created (or existing) topic as JSON')
    .action(async (name: string, options: { partitions: number; config?: Record<string, string>; ifNotExists?: boolean; json?: boolean }, command: Command) => {
      const admin = clientFor(command).admin();
      try {
        const created = await admin.createTopic({ topic: name, partitions: options.partitions, ...(options.config === undefined ? {} : { configs: options.config }) });
        await print(options.json, created, () => `Created topic ${created.name} with ${created.partitions.length} partition${created.partitions.length === 1 ? '' : 's'}.\n`);
      } catch (error) {
        if (options.ifNotExists !== true || !isError(error, 'TOPIC_ALREADY_EXISTS')) throw error;
        const existing = await admin.describeTopic(name);
        await print(options.json, existing, () => `Topic ${name} already exists.\n`);
      }
    });

  topics
    .command('list')
    .description('list topics')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const list = await clientFor(command).admin().listTopics();
      await print(options.json, list, () => table([['TOPIC', 'PARTITIONS'], ...list.map((t) => [t.name, t.partitions])]));
    });

  topics
    .command('describe <topic>')
    .description('configs, and per partition: log start, high watermark, bytes, segments, last compaction and produce rate over the last minute (HOT: over twice the mean)')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      const topic = await clientFor(command).admin().describeTopic(name);
      await print(options.json, topic, () => describeText(topic));
    });

  topics
    .command('delete-records <topic>')
    .description("Kafka's DeleteRecords: raise a partition's log start offset (compaction reclaims the space)")
    .requiredOption('-p, --partition <n>', 'partition', nonNegativeInteger)
    .requiredOption('-o, --offset <n>', 'new log start offset; -1 for the high watermark', offsetOrMinusOne)
    .option('--json', 'print JSON')
    .action(async (name: string, options: { partition: number; offset: number; json?: boolean }, command: Command) => {
      const [result] = await clientFor(command).admin().deleteTopicRecords({ topic: name, partitions: [{ partition: options.partition, offset: options.offset }] });
      await print(options.json, result, () => `Partition ${options.partition} of ${name} now starts at offset ${result?.lowWatermark}.\n`);
    });

  topics
    .command('alter <topic>')
    .description('raise the partition count and/or change configs')
    .option('-p, --partitions <n>', 'new (larger) partition count', positiveInteger)
    .option('-c, --config <key=value>', 'a config to set; repeat for more', configEntry)
    .option('--delete-config <name>', "revert a config to its default (Kafka's); repeat for more", configName)
    .option('--json', 'print the altered topic as JSON')
    .action(async (name: string, options: { partitions?: number; config?: Record<string, string>; deleteConfig?: string[]; json?: boolean }, command: Command) => {
      const reverted = Object.fromEntries((options.deleteConfig ?? []).map((key) => [key, String(TOPIC_CONFIG_DEFAULTS[key as keyof typeof TOPIC_CONFIG_DEFAULTS])]));
      const both = Object.keys(reverted).filter((key) => options.config?.[key] !== undefined);
      if (both.length > 0) throw new SluiceError('INVALID_CONFIG', `${both.join(', ')} given to both --config and --delete-config`);
      const configs = { ...options.config, ...reverted };
      const altered = await clientFor(command)
        .admin()
        .alterTopic(name, { ...(options.partitions === undefined ? {} : { partitions: options.partitions }), ...(Object.keys(configs).length === 0 ? {} : { configs }) });
      await print(options.json, altered, () => describeText(altered));
    });

  topics
    .command('delete <topic>')
    .description('delete a topic and its data')
    .option('--if-exists', 'succeed without change if there is no such topic')
    .option('--json', 'print {"deleted": name} ({"deleted": null} when --if-exists found none)')
    .action(async (name: string, options: { ifExists?: boolean; json?: boolean }, command: Command) => {
      try {
        await clientFor(command).admin().deleteTopic(name);
      } catch (error) {
        if (options.ifExists !== true || !isError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) throw error;
        return print(options.json, { deleted: null }, () => `Topic ${name} does not exist.\n`);
      }
      await print(options.json, { deleted: name }, () => `Deleted topic ${name}.\n`);
    });

  topicOffsetsCommand(topics);
}
