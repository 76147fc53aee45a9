/**
 * The public value types of the Sluice client: what a producer sends, what a consumer
 * hands to `eachMessage` / `eachBatch`, and what the admin API returns. Shapes follow
 * kafkajs where that fits; offsets and timestamps are numbers (exact up to 2^53, as the
 * HTTP API renders them) rather than kafkajs's strings.
 */
import type { Compression } from '../codec/compression.ts';
import type { GroupDescription } from '../groups/describe.ts';
import type { PartitionState } from '../log/topics.ts';

// The wire contract's shapes are the server's own types (type-only: no server code is bundled).
export type { PartitionState } from '../log/topics.ts';
export type { OffsetLookup, OffsetSpec } from '../log/offsets.ts';
export type { GroupDescription, GroupState } from '../groups/describe.ts';

export type { Compression } from '../codec/compression.ts';

/** A key, value or header value as a producer may give it; strings are encoded as UTF-8. */
export type Bytes = string | Buffer | Uint8Array;

/** Record headers as given to `send`: repeated keys as arrays, as kafkajs accepts them. */
export type MessageHeaders = Record<string, Bytes | null | undefined | ReadonlyArray<Bytes | null>>;

/** One record to produce. */
export interface Message {
  /** Hashed with Kafka's murmur2 to pick the partition, unless `partition` is given. */
  key?: Bytes | null;
  /** `null` is a tombstone. */
  value: Bytes | null;
  headers?: MessageHeaders;
  /** An explicit partition; otherwise murmur2(key), or the sticky partition for keyless records. */
  partition?: number;
  /** CreateTime in milliseconds since the epoch (a number, or a string of digits as kafkajs takes it). @default - Date.now() at send */
  timestamp?: number | string;
}

/**
 * Acknowledgement level. Every Sluice append is durable (S3 object and DynamoDB commit)
 * before it is acknowledged, so -1 and 1 behave alike; 0 resolves once the records are
 * buffered, with offset -1, and drops delivery errors — Kafka's fire-and-forget.
 */
export type Acks = -1 | 0 | 1;

/** What `producer.send` takes. */
export interface ProducerRecord {
  topic: string;
  messages: readonly Message[];
  /** @default -1 */
  acks?: Acks;
}

/** Where one produced message landed. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  /** The message's offset; -1 with `acks: 0`. */
  offset: number;
}

/** Headers of a consumed record: repeated keys become arrays, as kafkajs decodes them. */
export type ConsumedHeaders = Record<string, Buffer | null | Array<Buffer | null>>;

/** One consumed record. */
export interface ConsumedMessage {
  offset: number;
  /** Milliseconds since the epoch (CreateTime, or LogAppendTime when the topic stamps it). */
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: ConsumedHeaders;
}

/** One fetch's records from one partition. */
export interface ConsumedBatch {
  topic: string;
  partition: number;
  /** The partition's high watermark when the fetch was served. */
  highWatermark: number;
  logStartOffset: number;
  /** Records at or after the requested offset, in offset order. */
  messages: ConsumedMessage[];
  /** The position after this batch: where the next fetch starts. */
  nextOffset: number;
}

export interface EachMessagePayload {
  topic: string;
  partition: number;
  message: ConsumedMessage;
}

export interface EachBatchPayload {
  batch: ConsumedBatch;
  /** False once `stop()` or `disconnect()` has been called. */
  isRunning(): boolean;
  /** True when a `seek`, a `pause` or (in a group) a revocation made the rest of this batch irrelevant. */
  isStale(): boolean;
  /**
   * Marks the batch's records up to `offset` as processed, as kafkajs's resolveOffset: a group
   * consumer commits `offset + 1` even if the handler stops early. A batch handled to the end
   * without going stale counts as processed whole, unless run() was given `eachBatchAutoResolve: false`.
   */
  resolveOffset(offset: number): void;
}

/** Topic configs, as strings the way Kafka's admin API shows them (the server may know more than these). */
export type TopicConfigs = Record<string, string> & {
  'retention.ms': string;
  'retention.bytes': string;
  'max.message.bytes': string;
  'cleanup.policy': string;
  'message.timestamp.type': string;
};

/** Topic configs as a caller may set them, e.g. `{ 'retention.ms': 86_400_000 }`. */
export type TopicConfigsInput = Record<string, string | number>;

export interface TopicDescription {
  name: string;
  /** Id of this incarnation of the name: a deleted and recreated topic gets a new one. */
  topicId: string;
  partitions: PartitionState[];
  configs: TopicConfigs;
}

export interface TopicSummary {
  name: string;
  partitions: number;
}

export interface PartitionOffset {
  partition: number;
  offset: number;
}

/** One partition of a topic. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A partition and an offset: for commits, the next offset to consume (Kafka's convention). */
export interface TopicPartitionOffset extends TopicPartition {
  offset: number;
}

/** How a group spreads partitions over its members (the server's assignors). */
export type GroupAssignor = 'uniform' | 'range';

/** Partitions of a topic, as the group API lists assignments. */
export interface AssignedPartitions {
  topic: string;
  partitions: number[];
}

export interface GroupSummary {
  group: string;
}

/** One live member, as describeGroup reports it. */
export type GroupMemberDescription = GroupDescription['members'][number];

/** One partition's committed offset, high watermark, lag and owner, as describeGroup reports them. */
export type GroupPartitionLag = GroupDescription['partitions'][number];

export interface CommittedOffset extends TopicPartitionOffset {
  metadata: string;
  /** Milliseconds since the epoch. */
  committedAt: number;
}

/** Where `resetOffsets` moves every partition of a topic (kafka-consumer-groups --reset-offsets). */
export type OffsetResetTarget =
  | { topic: string; to: 'earliest' | 'latest' }
  /** Clamped into [logStartOffset, highWatermark], as kafka-consumer-groups does. */
  | { topic: string; offset: number }
  /** The first offset at or after this time (ms), else the high watermark. */
  | { topic: string; timestamp: number };

/** Compression codecs the producer can apply to each batch. */
export const COMPRESSIONS: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
