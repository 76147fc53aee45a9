/**
 * kafkajs's admin client over the native one. Sluice is one logical broker (node 0) behind an
 * HTTP API: partition metadata names it leader and sole replica. Calls about brokers, ACLs,
 * reassignments and transactions have no Sluice counterpart and throw KafkaJSNonRetriableError.
 */
import type { Admin as NativeAdmin, Sluice } from '../client/index.ts';
import { TOPIC_CONFIG_DEFAULTS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import { checkOptionKeys } from '../client/option-keys.ts';
import type { PartitionMetadata as PartitionerPartition } from '../client/partitioners.ts';
import type { Logger } from './constants.ts';
import { KafkaJSDeleteGroupsError, KafkaJSNonRetriableError, kafkaCodeOf, kafkajsErrors, toKafkaJSError, unsupported, type KafkaJSError } from './errors.ts';
import { deadGroup, toGroupDescription, type GroupDescription } from './group-description.ts';
import { nativeRetry, type RetryOptions } from './kafka.ts';

export interface AdminConfig {
  retry?: RetryOptions;
}

export interface ITopicConfig {
  topic: string;
  numPartitions?: number;
  /** Sluice keeps every record in S3; there are no replicas. -1 (the broker default) and 1 are accepted. */
  replicationFactor?: number;
  configEntries?: Array<{ name: string; value: string }>;
}

/** A partition as kafkajs's fetchTopicMetadata describes it: a partitioner's view plus offline replicas (none). */
export interface PartitionMetadata extends PartitionerPartition {
  offlineReplicas: number[];
}

export interface ITopicMetadata {
  name: string;
  partitions: PartitionMetadata[];
}

/** kafkajs's ConfigResourceTypes: only TOPIC resources exist in Sluice. */
export const ConfigResourceTypes = { UNKNOWN: 0, TOPIC: 2, BROKER: 4, BROKER_LOGGER: 8 } as const;

export interface ResourceConfigQuery {
  type: number;
  name: string;
  configNames?: string[];
}

export interface DescribeConfigResponse {
  resources: Array<{
    configEntries: Array<{ configName: string; configValue: string; isDefault: boolean; configSource: number; isSensitive: boolean; readOnly: boolean; configSynonyms: never[] }>;
    errorCode: number;
    errorMessage: string | null;
    resourceName: string;
    resourceType: number;
  }>;
  throttleTime: number;
}

export interface FetchOffsetsPartition {
  partition: number;
  offset: string;
  metadata: string | null;
}

const CREATE_KEYS = { topics: true, validateOnly: true, waitForLeaders: true, timeout: true } as const;
const TOPIC_KEYS = { topic: true, numPartitions: true, replicationFactor: true, configEntries: true } as const;
const SET_OFFSETS_KEYS = { groupId: true, topic: true, partitions: true } as const;
/** Kafka's ConfigSource: a topic's own setting, or the default. */
const DYNAMIC_TOPIC_CONFIG = 1;
const DEFAULT_CONFIG = 5;

/** Kafka's topic defaults as strings, for describeConfigs' isDefault. */
const TOPIC_DEFAULTS: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(TOPIC_CONFIG_DEFAULTS).map(([k, v]) => [k, String(v)]));

function partitionMetadata(count: number): PartitionMetadata[] {
  return Array.from({ length: count }, (_, partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [] }));
}

function onlyTopics(type: number, call: string): void {
  if (type !== ConfigResourceTypes.TOPIC) throw unsupported(`${call} for resource type ${type}`, 'Sluice has no brokers to configure; only TOPIC resources exist');
}

export class Admin {
  private readonly native: NativeAdmin;

  constructor(
    sluice: Sluice,
    config: AdminConfig,
    private readonly log: Logger,
  ) {
    checkOptionKeys('kafka.admin()', config, { retry: true });
    this.native = sluice.admin({ retry: nativeRetry(config.retry) });
  }

  async connect(): Promise<void> {
    await kafkajsErrors(() => this.native.connect());
  }

  async disconnect(): Promise<void> {}

  logger(): Logger {
    return this.log;
  }

  async listTopics(): Promise<string[]> {
    return kafkajsErrors(async () => (await this.native.listTopics()).map((t) => t.name));
  }

  /** true when every topic was created, false when some already existed (as kafkajs). */
  async createTopics(options: { topics: ITopicConfig[]; validateOnly?: boolean; waitForLeaders?: boolean; timeout?: number }): Promise<boolean> {
    checkOptionKeys('admin.createTopics()', options, CREATE_KEYS);
    if (options.validateOnly === true) throw unsupported('createTopics with validateOnly', 'Sluice validates when it creates');
    let allCreated = true;
    for (const t of options.topics) {
      checkOptionKeys('admin.createTopics() topics[]', t, TOPIC_KEYS);
      if (t.replicationFactor !== undefined && t.replicationFactor !== -1 && t.replicationFactor !== 1) throw unsupported(`replicationFactor ${t.replicationFactor}`, 'records live in S3, which replicates them; there are no broker replicas');
      const configs = Object.fromEntries((t.configEntries ?? []).map((e) => [e.name, e.value]));
      try {
        await this.native.createTopic({ topic: t.topic, ...(t.numPartitions === undefined || t.numPartitions === -1 ? {} : { partitions: t.numPartitions }), configs });
      } catch (error) {
        if (!(error instanceof SluiceError && error.code === 'TOPIC_ALREADY_EXISTS')) throw toKafkaJSError(error);
        allCreated = false;
      }
    }
    return allCreated;
  }

  async deleteTopics(options: { topics: string[]; timeout?: number }): Promise<void> {
    await kafkajsErrors(() => Promise.all(options.topics.map((topic) => this.native.deleteTopic(topic))));
  }

  /** Raises each topic's partition count to `count`. */
  async createPartitions(options: { topicPartitions: Array<{ topic: string; count: number; assignments?: number[][] }>; validateOnly?: boolean; timeout?: number }): Promise<boolean> {
    if (options.validateOnly === true) throw unsupported('createPartitions with validateOnly', 'Sluice validates when it alters');
    for (const t of options.topicPartitions) {
      if (t.assignments !== undefined) throw unsupported('partition assignments', 'there are no brokers to place partitions on');
      await kafkajsErrors(() => this.native.alterTopic(t.topic, { partitions: t.count }));
    }
    return true;
  }

  async fetchTopicMetadata(options?: { topics: string[] }): Promise<{ topics: ITopicMetadata[] }> {
    return kafkajsErrors(async () => {
      const names = options?.topics ?? (await this.native.listTopics()).map((t) => t.name);
      const described = await Promise.all(names.map((name) => this.native.describeTopic(name)));
      return { topics: described.map((d) => ({ name: d.name, partitions: partitionMetadata(d.partitions.length) })) };
    });
  }

  async fetchTopicOffsets(topic: string): Promise<Array<{ partition: number; offset: string; high: string; low: string }>> {
    return kafkajsErrors(async () => (await this.native.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: String(p.offset), high: String(p.high), low: String(p.low) })));
  }

  /** The first offset at or after `timestamp` per partition (the high watermark when none is, or when no timestamp is given). */
  async fetchTopicOffsetsByTimestamp(topic: string, timestamp?: number): Promise<Array<{ partition: number; offset: string }>> {
    return kafkajsErrors(async () => {
      const found = timestamp === undefined ? await this.native.fetchTopicOffsets(topic) : await this.native.fetchTopicOffsetsByTimestamp(topic, timestamp);
      return found.map((p) => ({ partition: p.partition, offset: String(p.offset) }));
    });
  }

  async deleteTopicRecords(options: { topic: string; partitions: Array<{ partition: number; offset: string }> }): Promise<void> {
    await kafkajsErrors(() => this.native.deleteTopicRecords({ topic: options.topic, partitions: options.partitions.map((p) => ({ partition: p.partition, offset: Number(p.offset) })) }));
  }

  async describeConfigs(options: { resources: ResourceConfigQuery[]; includeSynonyms?: boolean }): Promise<DescribeConfigResponse> {
    return kafkajsErrors(async () => ({
      resources: await Promise.all(
        options.resources.map(async (r) => {
          onlyTopics(r.type, 'describeConfigs');
          const { configs } = await this.native.describeTopic(r.name);
          const defaults = TOPIC_DEFAULTS;
          const entries = Object.entries(configs).filter(([name]) => r.configNames === undefined || r.configNames.length === 0 || r.configNames.includes(name));
          return {
            configEntries: entries.map(([configName, configValue]) => {
              const isDefault = defaults[configName] === configValue;
              return { configName, configValue, isDefault, configSource: isDefault ? DEFAULT_CONFIG : DYNAMIC_TOPIC_CONFIG, isSensitive: false, readOnly: false, configSynonyms: [] };
            }),
            errorCode: 0,
            errorMessage: null,
            resourceName: r.name,
            resourceType: r.type,
          };
        }),
      ),
      throttleTime: 0,
    }));
  }

  /** Sets the given entries of each topic (the others keep their values, as incremental SET). */
  async alterConfigs(options: { validateOnly: boolean; resources: Array<{ type: number; name: string; configEntries: Array<{ name: string; value: string }> }> }): Promise<{ resources: Array<{ errorCode: number; errorMessage: string | null; resourceName: string; resourceType: number }>; throttleTime: number }> {
    if (options.validateOnly) throw unsupported('alterConfigs with validateOnly', 'Sluice validates when it alters');
    return kafkajsErrors(async () => {
      for (const r of options.resources) {
        onlyTopics(r.type, 'alterConfigs');
        await this.native.alterTopic(r.name, { configs: Object.fromEntries(r.configEntries.map((e) => [e.name, e.value])) });
      }
      return { resources: options.resources.map((r) => ({ errorCode: 0, errorMessage: null, resourceName: r.name, resourceType: r.type })), throttleTime: 0 };
    });
  }

  async listGroups(): Promise<{ groups: Array<{ groupId: string; protocolType: string }> }> {
    return kafkajsErrors(async () => ({ groups: (await this.native.listGroups()).map((g) => ({ groupId: g.group, protocolType: 'consumer' })) }));
  }

  async describeGroups(groupIds: string[]): Promise<{ groups: GroupDescription[] }> {
    return kafkajsErrors(async () => ({
      groups: await Promise.all(
        groupIds.map(async (groupId) => {
          try {
            return toGroupDescription(await this.native.describeGroup(groupId));
          } catch (error) {
            if (error instanceof SluiceError && error.code === 'GROUP_ID_NOT_FOUND') return deadGroup(groupId);
            throw error;
          }
        }),
      ),
    }));
  }

  /** Deletes empty groups; throws KafkaJSDeleteGroupsError naming each group not deleted (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND), as kafkajs. */
  async deleteGroups(groupIds: string[]): Promise<Array<{ groupId: string; errorCode: number }>> {
    if (!Array.isArray(groupIds) || groupIds.some((g) => typeof g !== 'string')) throw new KafkaJSNonRetriableError(`Invalid groupIds array ${JSON.stringify(groupIds)}`);
    const results = await kafkajsErrors(() => this.native.deleteGroups(groupIds));
    const failed = results.flatMap((r) => (r.error === undefined ? [] : [{ groupId: r.group, errorCode: kafkaCodeOf(r.error.code), error: toKafkaJSError(r.error) as KafkaJSError }]));
    if (failed.length > 0) throw new KafkaJSDeleteGroupsError('Error in DeleteGroups', failed);
    return results.map((r) => ({ groupId: r.group, errorCode: 0 }));
  }

  /**
   * Kafka's OffsetDelete (Admin.deleteConsumerGroupOffsets): removes the group's committed
   * offsets of a topic, of `partitions` or all of them; GROUP_SUBSCRIBED_TO_TOPIC while a live
   * member subscribes to it.
   */
  async deleteConsumerGroupOffsets(options: { groupId: string; topic: string; partitions?: number[] }): Promise<void> {
    await kafkajsErrors(() => this.native.deleteOffsets(options.groupId, options.topic, options.partitions));
  }

  /** Committed offsets of the group, per topic and every partition ('-1' where none is committed, as Kafka). */
  async fetchOffsets(options: { groupId: string; topics?: string[]; resolveOffsets?: boolean }): Promise<Array<{ topic: string; partitions: FetchOffsetsPartition[] }>> {
    return kafkajsErrors(async () => {
      const committed = await this.native.fetchOffsets(options.groupId, options.topics === undefined ? {} : { topics: options.topics });
      const topics = options.topics ?? [...new Set(committed.map((c) => c.topic))];
      return Promise.all(
        topics.map(async (topic) => {
          const bounds = await this.native.fetchTopicOffsets(topic);
          return {
            topic,
            partitions: bounds.map(({ partition, high }) => {
              const found = committed.find((c) => c.topic === topic && c.partition === partition);
              // resolveOffsets: a partition with no commit reads as where a new member starts, the log end (kafkajs without fromBeginning).
              return { partition, offset: String(found?.offset ?? (options.resolveOffsets === true ? high : -1)), metadata: found?.metadata ?? null };
            }),
          };
        }),
      );
    });
  }

  /**
   * Sets the group's committed offset of each given partition of a topic (kafkajs: '-2' is the
   * log start, '-1' the log end); partitions not given keep theirs. As in kafkajs, the group
   * must have no running member.
   */
  async setOffsets(options: { groupId: string; topic: string; partitions: Array<{ partition: number; offset: string }> }): Promise<void> {
    checkOptionKeys('admin.setOffsets()', options, SET_OFFSETS_KEYS);
    if (!options.groupId) throw new KafkaJSNonRetriableError(`Invalid groupId ${options.groupId}`);
    if (!options.topic) throw new KafkaJSNonRetriableError(`Invalid topic ${options.topic}`);
    if (!Array.isArray(options.partitions) || options.partitions.length === 0) throw new KafkaJSNonRetriableError('Invalid partitions');
    const symbolic = options.partitions.some((p) => p.offset === '-1' || p.offset === '-2');
    const bounds = symbolic ? await kafkajsErrors(() => this.native.fetchTopicOffsets(options.topic)) : [];
    const offsets = options.partitions.map(({ partition, offset }) => {
      const bound = bounds.find((b) => b.partition === partition);
      if (offset === '-1' || offset === '-2') {
        if (bound === undefined) throw new KafkaJSNonRetriableError(`Topic ${options.topic} has no partition ${partition}`);
        return { topic: options.topic, partition, offset: offset === '-1' ? bound.high : bound.low };
      }
      if (!/^\d+$/.test(String(offset))) throw new KafkaJSNonRetriableError(`Invalid offset ${JSON.stringify(offset)} for partition ${partition}: a non-negative integer, '-1' (latest) or '-2' (earliest)`);
      return { topic: options.topic, partition, offset: Number(offset) };
    });
    try {
      await this.native.commitOffsets(options.groupId, offsets);
    } catch (error) {
      // Sluice refuses an administrator's commit while the group has a live member, as kafkajs refuses to set offsets then.
      if (error instanceof SluiceError && error.code === 'UNKNOWN_MEMBER_ID') {
        throw new KafkaJSNonRetriableError(`The consumer group must have no running instances (${error.message})`);
      }
      throw toKafkaJSError(error);
    }
  }

  async resetOffsets(options: { groupId: string; topic: string; earliest?: boolean }): Promise<void> {
    await kafkajsErrors(() => this.native.resetOffsets(options.groupId, { topic: options.topic, to: options.earliest === true ? 'earliest' : 'latest' }));
  }

  describeCluster(): never {
    throw unsupported('admin.describeCluster()', 'Sluice is an HTTP API with no brokers or controller to describe');
  }

  createAcls(): never {
    throw unsupported('admin.createAcls()', 'access is IAM policy on the API (SluiceCluster grantProduce/grantConsume/grantAdmin), not Kafka ACLs');
  }

  describeAcls(): never {
    throw unsupported('admin.describeAcls()', 'access is IAM policy on the API, not Kafka ACLs');
  }

  deleteAcls(): never {
    throw unsupported('admin.deleteAcls()', 'access is IAM policy on the API, not Kafka ACLs');
  }

  alterPartitionReassignments(): never {
    throw unsupported('admin.alterPartitionReassignments()', 'there are no brokers to move partitions between');
  }

  listPartitionReassignments(): never {
    throw unsupported('admin.listPartitionReassignments()', 'there are no brokers to move partitions between');
  }

  on(eventName: string): never {
    throw new KafkaJSNonRetriableError(`admin event ${JSON.stringify(eventName)} is not supported by Sluice: the admin client emits no events`);
  }
}
