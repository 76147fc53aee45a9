/** `sluice topics create|list|describe|alter|delete`: tables for people, `--json` for scripts. */
import type { Command } from 'commander';
import type { TopicDescription } from '../lib/client/index.ts';
import { clientFor, keyValues, nonNegativeInteger, positiveInteger, writeOut } from './context.ts';
import { table } from './format.ts';

function describeText(topic: TopicDescription): string {
  const configs = Object.entries(topic.configs).map(([k, v]) => `  ${k}=${v}`).join('\n');
  const partitions = table([
    ['PARTITION', 'LOG-START', 'HIGH-WATERMARK', 'BYTES', 'SEGMENTS', 'LAST-COMPACTED'],
    ...topic.partitions.map((p) => [p.partition, p.logStartOffset, p.highWatermark, p.bytes, p.segments, p.lastCompactedAt === null ? '-' : new Date(p.lastCompactedAt).toISOString()]),
  ]);
  return `Topic: ${topic.name}  Id: ${topic.topicId}  Partitions: ${topic.partitions.length}\nConfigs:\n${configs}\n\n${partitions}`;
}

function offsetOrMinusOne(value: string): number {
  return value === '-1' ? -1 : nonNegativeInteger(value);
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
    .option('-c, --config <k=v,...>', 'topic configs, e.g. retention.ms=86400000 (repeatable)', keyValues)
    .option('--json', 'print the created topic as JSON')
    .action(async (name: string, options: { partitions: number; config?: Record<string, string>; json?: boolean }, command: Command) => {
      const created = await clientFor(command).admin().createTopic({ topic: name, partitions: options.partitions, ...(options.config === undefined ? {} : { configs: options.config }) });
      await print(options.json, created, () => `Created topic ${created.name} with ${created.partitions.length} partition${created.partitions.length === 1 ? '' : 's'}.\n`);
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
    .description('configs, and per partition: log start, high watermark, bytes, segments and last compaction')
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
    .option('-c, --config <k=v,...>', 'configs to set (repeatable)', keyValues)
    .option('--json', 'print the altered topic as JSON')
    .action(async (name: string, options: { partitions?: number; config?: Record<string, string>; json?: boolean }, command: Command) => {
      const altered = await clientFor(command)
        .admin()
        .alterTopic(name, { ...(options.partitions === undefined ? {} : { partitions: options.partitions }), ...(options.config === undefined ? {} : { configs: options.config }) });
      await print(options.json, altered, () => describeText(altered));
    });

  topics
    .command('delete <topic>')
    .description('delete a topic and its data')
    .option('--json', 'print {"deleted": name}')
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      await clientFor(command).admin().deleteTopic(name);
      await print(options.json, { deleted: name }, () => `Deleted topic ${name}.\n`);
    });
}
