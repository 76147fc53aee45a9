import { randomUUID } from 'node:crypto';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { queryPages } from '../storage/query-pages.ts';
import { CoalescedReads } from '../storage/read-coalescing.ts';
import { SluiceError } from '../errors.ts';
import type { Storage } from '../storage/clients.ts';
import { isConditionFailure, itemDoesNotExist } from '../storage/conditions.ts';
import { HEAD_SK, TOPICS_PK, partitionPk, topicSk, type HeadItem, type TopicItem } from '../storage/schema.ts';
import { applyTopicConfigs, configStrings, topicConfigsFrom, withDefaults, type TopicConfigName, type TopicConfigStrings } from './topic-config.ts';
import { validatePartitionCount, validateTopicName } from './topic-name.ts';
import { purgeTopicData } from './purge.ts';
import type { ProduceRate } from './partition-rates.ts';

/** A partition's public state, as `GET /v1/topics/{topic}` shows it. */
export interface PartitionState {
  partition: number;
  logStartOffset: number;
  highWatermark: number;
  bytes: number;
  segments: number;
  /** Time of the last compaction pass (ms), null before the first. */
  lastCompactedAt: number | null;
  /** Produce rate over the last minute; only `GET /v1/topics/{topic}` reports it (lib/log/partition-rates.ts). */
  produceRate?: ProduceRate;
}

export interface TopicDescription {
  name: string;
  topicId: string;
  partitions: PartitionState[];
  configs: TopicConfigStrings;
}

export interface CreateTopicInput {
  name: unknown;
  partitions: unknown;
  configs?: unknown;
}

function unknownTopic(name: string): SluiceError {
  return new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(name)} does not exist`);
}

/** Topics stored before a config name existed read with that config's default. */
function fromStorage(item: TopicItem): TopicItem {
  return { ...item, configs: withDefaults(item.configs) };
}

/** Creates a topic; TOPIC_ALREADY_EXISTS if the name is taken. */
export async function createTopic(storage: Storage, input: CreateTopicInput): Promise<TopicItem> {
  const name = validateTopicName(input.name);
  const partitions = validatePartitionCount(input.partitions);
  const configs = topicConfigsFrom(input.configs);
  const item: TopicItem = { pk: TOPICS_PK, sk: topicSk(name), name, topicId: randomUUID(), partitions, configs, createdAtMs: Date.now() };
  try {
    await storage.ddb.send(new PutCommand({ TableName: storage.env.tableName, Item: item, ConditionExpression: itemDoesNotExist }));
  } catch (error) {
    if (isConditionFailure(error)) throw new SluiceError('TOPIC_ALREADY_EXISTS', `Topic ${JSON.stringify(name)} already exists`);
    throw error;
  }
  return item;
}

/** Every topic, ordered by name. */
export async function listTopics(storage: Storage): Promise<TopicItem[]> {
  const topics: TopicItem[] = [];
  for await (const page of queryPages<TopicItem>(storage, { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': TOPICS_PK } })) topics.push(...page.map(fromStorage));
  return topics;
}

/** A topic's metadata; UNKNOWN_TOPIC_OR_PARTITION if absent. */
export async function getTopic(storage: Storage, name: string): Promise<TopicItem> {
  const item = await topicReads(storage).read(name, async () => {
    const result = await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk: TOPICS_PK, sk: topicSk(name) }, ConsistentRead: true }));
    return result.Item as TopicItem | undefined;
  });
  if (item === undefined) throw unknownTopic(name);
  return fromStorage(item);
}

/**
 * Per storage (one table), the topic reads in flight: a produce reads its topic on every
 * request, and a busy instance serving many at once shares one consistent read per round
 * trip (read-coalescing.ts), each as fresh as a read of its own.
 */
const topicReadsByStorage = new WeakMap<Storage, CoalescedReads<TopicItem | undefined>>();

function topicReads(storage: Storage): CoalescedReads<TopicItem | undefined> {
  let reads = topicReadsByStorage.get(storage);
  if (reads === undefined) {
    reads = new CoalescedReads();
    topicReadsByStorage.set(storage, reads);
  }
  return reads;
}

/** Validates that `partition` exists in `topic`. */
export function checkPartition(topic: TopicItem, partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
    throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(topic.name)} has partitions 0..${topic.partitions - 1}; partition ${partition} does not exist`);
  }
}

/** An absent head is an empty partition: nothing appended yet. */
export function headState(partition: number, head: HeadItem | undefined): PartitionState {
  return {
    partition,
    logStartOffset: head?.logStartOffset ?? 0,
    highWatermark: head?.nextOffset ?? 0,
    bytes: head?.bytes ?? 0,
    segments: head?.segments ?? 0,
    lastCompactedAt: head?.lastCompactedAtMs ?? null,
  };
}

/** The heads of every partition of `topic`, read consistently in batches of 100 keys. */
export async function readHeads(storage: Storage, topic: TopicItem): Promise<PartitionState[]> {
  const byPk = new Map<string, HeadItem>();
  const keys = Array.from({ length: topic.partitions }, (_, p) => ({ pk: partitionPk(topic.topicId, p), sk: HEAD_SK }));
  for (let i = 0; i < keys.length; i += 100) {
    let pending: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
      [storage.env.tableName]: { Keys: keys.slice(i, i + 100), ConsistentRead: true },
    };
    while (pending !== undefined && Object.keys(pending).length > 0) {
      const result = await storage.ddb.send(new BatchGetCommand({ RequestItems: pending }));
      for (const item of result.Responses?.[storage.env.tableName] ?? []) byPk.set(String(item.pk), item as HeadItem);
      pending = result.UnprocessedKeys as typeof pending;
    }
  }
  return keys.map((key, p) => headState(p, byPk.get(key.pk)));
}

/** Name, configs and per-partition offsets and sizes. */
export async function describeTopic(storage: Storage, name: string): Promise<TopicDescription> {
  const topic = await getTopic(storage, name);
  return describe(topic, await readHeads(storage, topic));
}

function describe(topic: TopicItem, partitions: PartitionState[]): TopicDescription {
  return { name: topic.name, topicId: topic.topicId, partitions, configs: configStrings(topic.configs) };
}

export interface AlterTopicInput {
  partitions?: unknown;
  configs?: unknown;
}

/**
 * Raises the partition count (never lowers it) and changes configs. The update names only
 * the configs given (`SET configs.<name> = …`), so two concurrent alters of different
 * configs both land, whatever their order; it is conditional on the incarnation read and on
 * the count not having risen past the one asked for meanwhile.
 */
export async function alterTopic(storage: Storage, name: string, input: AlterTopicInput): Promise<TopicDescription> {
  const current = await getTopic(storage, name);
  const partitions = input.partitions === undefined ? undefined : validatePartitionCount(input.partitions);
  if (partitions !== undefined && partitions < current.partitions) throw fewerPartitions(name, current.partitions, partitions);
  const changed = applyTopicConfigs(current.configs, input.configs);
  const names = Object.keys(input.configs ?? {}) as TopicConfigName[];
  const sets = names.map((_, i) => `configs.#c${i} = :c${i}`);
  if (partitions !== undefined) sets.push('#partitions = :partitions');
  if (sets.length > 0) {
    try {
      await storage.ddb.send(
        new UpdateCommand({
          TableName: storage.env.tableName,
          Key: { pk: TOPICS_PK, sk: topicSk(name) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: partitions === undefined ? 'topicId = :topicId' : 'topicId = :topicId AND #partitions <= :partitions',
          ExpressionAttributeNames: {
            ...Object.fromEntries(names.map((n, i) => [`#c${i}`, n])),
            ...(partitions === undefined ? {} : { '#partitions': 'partitions' }),
          },
          ExpressionAttributeValues: {
            ...Object.fromEntries(names.map((n, i) => [`:c${i}`, changed[n]])),
            ':topicId': current.topicId,
            ...(partitions === undefined ? {} : { ':partitions': partitions }),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // The item as the condition saw it, in DynamoDB's attribute-value form.
      const seen = (error as { Item?: Record<string, { S?: string; N?: string } | undefined> }).Item;
      if (seen?.topicId?.S !== current.topicId) throw unknownTopic(name);
      throw fewerPartitions(name, Number(seen.partitions?.N), partitions as number);
    }
  }
  return describeTopic(storage, name);
}

function fewerPartitions(name: string, has: number, asked: number): SluiceError {
  return new SluiceError('INVALID_PARTITIONS', `Topic ${JSON.stringify(name)} has ${has} partitions; the count can only be increased, not lowered to ${asked}`);
}

/** Deletes a topic: the name is free at once; its index entries, then its objects, go next. */
export async function deleteTopic(storage: Storage, name: string): Promise<TopicItem> {
  const topic = await getTopic(storage, name);
  try {
    await storage.ddb.send(
      new DeleteCommand({
        TableName: storage.env.tableName,
        Key: { pk: TOPICS_PK, sk: topicSk(name) },
        ConditionExpression: 'topicId = :topicId',
        ExpressionAttributeValues: { ':topicId': topic.topicId },
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw unknownTopic(name);
    throw error;
  }
  await purgeTopicData(storage, topic);
  return topic;
}
