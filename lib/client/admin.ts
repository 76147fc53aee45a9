/**
 * Topic administration and offset lookups (Kafka's Admin API): create, list, describe,
 * alter and delete topics, and ListOffsets by timestamp or log end; consumer groups: list,
 * describe (members and lag), committed offsets, reset, and deletion of groups and of their
 * offsets (kafka-consumer-groups).
 */
import { SluiceError } from '../errors.ts';
import { checkConnection } from './connect.ts';
import { lookupOffset } from './fetcher.ts';
import { fetchCommitted, MAX_OFFSETS_PER_COMMIT, sendCommit } from './group-requests.ts';
import { pathOf, type Transport } from './http.ts';
import { ALTER_TOPIC_KEYS, checkOptionKeys, CREATE_TOPIC_KEYS, DELETE_RECORDS_KEYS, FETCH_OFFSETS_KEYS, TOPIC_HINTS } from './option-keys.ts';
import type { ResolvedRetryOptions } from './options.ts';
import type {
  CommittedOffset,
  GroupDescription,
  GroupSummary,
  OffsetLookup,
  OffsetResetTarget,
  OffsetSpec,
  PartitionOffset,
  TopicConfigsInput,
  TopicDescription,
  TopicPartitionOffset,
  TopicSummary,
} from './types.ts';

export interface CreateTopicOptions {
  topic: string;
  /** @default 1 */
  partitions?: number;
  /** Kafka's defaults apply to configs not given. */
  configs?: TopicConfigsInput;
}

export interface AlterTopicOptions {
  /** A larger partition count; it can never be lowered. */
  partitions?: number;
  configs?: TopicConfigsInput;
}

function checkSpec(spec: OffsetSpec): void {
  if (spec === 'earliest' || spec === 'latest') return;
  if (typeof spec === 'number' && Number.isSafeInteger(spec) && spec >= 0) return;
  throw new SluiceError('INVALID_REQUEST', `An offset spec is a timestamp in ms, 'earliest' or 'latest', got ${JSON.stringify(spec)}`);
}

/** One group's outcome in deleteGroups: `error` is why it was not deleted. */
export interface DeleteGroupResult {
  group: string;
  error: SluiceError | undefined;
}

/** The partitions whose committed offsets deleteOffsets removed. */
export interface DeletedGroupOffsets {
  topic: string;
  partitions: number[];
}

export class Admin {
  constructor(
    private readonly transport: Transport,
    private readonly retry: ResolvedRetryOptions,
  ) {}

  /** Checks that the API answers (GET /v1/health); rejects naming the cause if not. */
  async connect(): Promise<void> {
    await checkConnection(this.transport, this.retry);
  }

  /** Nothing to release (each request stands alone); for symmetry with connect(). */
  async disconnect(): Promise<void> {}

  /** Creates a topic; TOPIC_ALREADY_EXISTS if the name is taken. */
  async createTopic(options: CreateTopicOptions): Promise<TopicDescription> {
    checkOptionKeys('admin.createTopic()', options, CREATE_TOPIC_KEYS, TOPIC_HINTS);
    const body: Record<string, unknown> = { name: options.topic };
    if (options.partitions !== undefined) body.partitions = options.partitions;
    if (options.configs !== undefined) body.configs = options.configs;
    return this.transport.json<TopicDescription>({ method: 'POST', path: pathOf('v1', 'topics'), headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, this.retry);
  }

  async listTopics(): Promise<TopicSummary[]> {
    const { topics } = await this.transport.json<{ topics: TopicSummary[] }>({ method: 'GET', path: pathOf('v1', 'topics') }, this.retry);
    return topics;
  }

  /** Configs and, per partition, log start offset, high watermark, bytes, segments and (unless `rates: false`) produce rate. */
  async describeTopic(topic: string, options: { rates?: boolean } = {}): Promise<TopicDescription> {
    return this.transport.json<TopicDescription>({ method: 'GET', path: pathOf('v1', 'topics', topic), ...(options.rates === false ? { query: { rates: 'false' } } : {}) }, this.retry);
  }

  /** Raises the partition count and/or changes configs; returns the altered topic. */
  async alterTopic(topic: string, changes: AlterTopicOptions): Promise<TopicDescription> {
    checkOptionKeys('admin.alterTopic()', changes, ALTER_TOPIC_KEYS, TOPIC_HINTS);
    return this.transport.json<TopicDescription>({ method: 'PATCH', path: pathOf('v1', 'topics', topic), headers: { 'content-type': 'application/json' }, body: JSON.stringify(changes) }, this.retry);
  }

  /** Deletes a topic and its data; the name can be created again, empty. */
  async deleteTopic(topic: string): Promise<void> {
    await this.transport.json<void>({ method: 'DELETE', path: pathOf('v1', 'topics', topic) }, this.retry);
  }

  /**
   * Kafka's DeleteRecords, as kafkajs's deleteTopicRecords: raises each partition's log start
   * offset (-1: to the high watermark); the compact function reclaims the space. Returns the
   * new low watermarks.
   */
  async deleteTopicRecords(options: { topic: string; partitions: Array<{ partition: number; offset: number }> }): Promise<Array<{ partition: number; lowWatermark: number }>> {
    checkOptionKeys('admin.deleteTopicRecords()', options, DELETE_RECORDS_KEYS);
    return Promise.all(
      options.partitions.map(async ({ partition, offset }) => {
        const { lowWatermark } = await this.transport.json<{ lowWatermark: number }>(
          { method: 'POST', path: pathOf('v1', 'topics', options.topic, 'partitions', String(partition), 'delete-records'), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ offset }) },
          this.retry,
        );
        return { partition, lowWatermark };
      }),
    );
  }

  /** Kafka's ListOffsets for one partition: by timestamp (ms), or `earliest` / `latest`. */
  async listOffsets(topic: string, partition: number, spec: OffsetSpec): Promise<OffsetLookup> {
    checkSpec(spec);
    return lookupOffset(this.transport, this.retry, topic, partition, spec);
  }

  /** Every partition's bounds, as kafkajs's fetchTopicOffsets: `offset` is the high watermark. */
  async fetchTopicOffsets(topic: string): Promise<Array<PartitionOffset & { high: number; low: number }>> {
    const { partitions } = await this.describeTopic(topic);
    return partitions.map((p) => ({ partition: p.partition, offset: p.highWatermark, high: p.highWatermark, low: p.logStartOffset }));
  }

  /** For every partition, the first offset at or after `timestampMs` (the high watermark when none is). */
  async fetchTopicOffsetsByTimestamp(topic: string, timestampMs: number): Promise<PartitionOffset[]> {
    const { partitions } = await this.describeTopic(topic);
    return Promise.all(partitions.map(async (p) => ({ partition: p.partition, offset: (await this.listOffsets(topic, p.partition, timestampMs)).offset })));
  }

  /** Every group that has had a member or a commit. */
  async listGroups(): Promise<GroupSummary[]> {
    const { groups } = await this.transport.json<{ groups: GroupSummary[] }>({ method: 'GET', path: pathOf('v1', 'groups') }, this.retry);
    return groups;
  }

  /** State, live members with their assignments, and per partition the committed offset, high watermark, lag and owner; GROUP_ID_NOT_FOUND for an unknown group. */
  async describeGroup(group: string): Promise<GroupDescription> {
    return this.transport.json<GroupDescription>({ method: 'GET', path: pathOf('v1', 'groups', group) }, this.retry);
  }

  /** The group's committed offsets (each the next offset to consume), optionally of some topics only. */
  async fetchOffsets(group: string, options: { topics?: readonly string[] } = {}): Promise<CommittedOffset[]> {
    checkOptionKeys('admin.fetchOffsets()', options, FETCH_OFFSETS_KEYS);
    const offsets = await fetchCommitted(this.transport, this.retry, group);
    return options.topics === undefined ? offsets : offsets.filter((o) => options.topics?.includes(o.topic));
  }

  /**
   * Sets the committed offset of every partition of a topic: to the earliest or latest
   * offset, an offset (clamped into the log), or the first at or after a timestamp. Only while
   * the group has no live member (NON_EMPTY_GROUP otherwise), as kafka-consumer-groups.
   */
  async resetOffsets(group: string, target: OffsetResetTarget): Promise<TopicPartitionOffset[]> {
    const { offsets } = await this.transport.json<{ offsets: TopicPartitionOffset[] }>(
      { method: 'POST', path: pathOf('v1', 'groups', group, 'offsets', 'reset'), headers: { 'content-type': 'application/json' }, body: JSON.stringify(target) },
      this.retry,
    );
    return offsets;
  }

  /**
   * Kafka's DeleteGroups: removes each group's committed offsets and membership records. A
   * group is deleted only while it has no live member (NON_EMPTY_GROUP); an unknown one gives
   * GROUP_ID_NOT_FOUND. Each group's outcome is returned; only a failure to reach the API rejects.
   */
  async deleteGroups(groups: readonly string[]): Promise<DeleteGroupResult[]> {
    return Promise.all(
      groups.map(async (group) => {
        try {
          await this.transport.json<void>({ method: 'DELETE', path: pathOf('v1', 'groups', group) }, this.retry);
          return { group, error: undefined };
        } catch (error) {
          if (error instanceof SluiceError && !error.retriable) return { group, error };
          throw error;
        }
      }),
    );
  }

  /**
   * Kafka's OffsetDelete: removes the group's committed offsets of `topic`, of the given
   * partitions or all of them. Refused with GROUP_SUBSCRIBED_TO_TOPIC while a live member
   * subscribes to the topic.
   */
  async deleteOffsets(group: string, topic: string, partitions?: readonly number[]): Promise<DeletedGroupOffsets> {
    const call = async (partition?: number) =>
      this.transport.json<DeletedGroupOffsets>({ method: 'DELETE', path: pathOf('v1', 'groups', group, 'offsets'), query: { topic, ...(partition === undefined ? {} : { partition: String(partition) }) } }, this.retry);
    if (partitions === undefined) return call();
    const deleted: number[] = [];
    for (const partition of new Set(partitions)) deleted.push(...(await call(partition)).partitions);
    return { topic, partitions: deleted.sort((a, b) => a - b) };
  }

  /**
   * Commits offsets for a group as an administrator (no member): each the next offset to
   * consume. Only while the group has no live member (UNKNOWN_MEMBER_ID otherwise). Sent in
   * requests of at most 99 offsets, so a large set is not applied atomically.
   */
  async commitOffsets(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    for (let i = 0; i < offsets.length; i += MAX_OFFSETS_PER_COMMIT) await sendCommit(this.transport, this.retry, group, undefined, offsets.slice(i, i + MAX_OFFSETS_PER_COMMIT));
  }
}
