/**
 * kafkajs's group consumer over the native GroupConsumer. kafkajs takes commit settings at
 * `run()`, the native client at construction, so the native consumer is made by `run()`;
 * subscriptions, pauses and event listeners given before are applied to it then.
 *
 * A RegExp subscription is matched against the topics that exist at `subscribe()`, as kafkajs
 * matches it against the metadata it has then.
 */
import type { ConsumedBatch, ConsumedMessage, GroupConsumer as NativeConsumer, GroupConsumerOptions, RetryOptions as NativeRetryOptions, Sluice, TopicPartition } from '../client/index.ts';
import { SluiceError } from '../errors.ts';
import { checkOptionKeys } from '../client/option-keys.ts';
import { PartitionAssigners, type Logger, type PartitionAssigner } from './constants.ts';
import { KafkaJSNonRetriableError, kafkajsErrors, toKafkaJSError, unsupported } from './errors.ts';
import { deadGroup, toGroupDescription, type GroupDescription } from './group-description.ts';
import { nativeRetry, type RetryOptions } from './kafka.ts';

export interface ConsumerConfig {
  groupId: string;
  partitionAssigners?: PartitionAssigner[];
  sessionTimeout?: number;
  /** KIP-848 groups revoke incrementally and the server bounds a member by its session timeout; accepted, with no separate effect. */
  rebalanceTimeout?: number;
  heartbeatInterval?: number;
  maxBytesPerPartition?: number;
  maxWaitTimeInMs?: number;
  retry?: RetryOptions;
  /** Sluice has no transactions, so every record is committed: true and false read the same. */
  readUncommitted?: boolean;
}

export interface ConsumerSubscribeTopics {
  topics: Array<string | RegExp>;
  fromBeginning?: boolean;
}

export type IHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

export interface KafkaMessage {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  attributes: number;
  offset: string;
  size: number;
  headers?: IHeaders;
}

export interface Batch {
  topic: string;
  partition: number;
  highWatermark: string;
  messages: KafkaMessage[];
  isEmpty(): boolean;
  firstOffset(): string | null;
  lastOffset(): string;
  offsetLag(): string;
  offsetLagLow(): string;
}

export interface TopicPartitionOffsetAndMetadata {
  topic: string;
  partition: number;
  offset: string;
  metadata?: string | null;
}

export interface Offsets {
  topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>;
}

export interface EachMessagePayload {
  topic: string;
  partition: number;
  message: KafkaMessage;
  heartbeat(): Promise<void>;
  pause(): () => void;
}

export interface EachBatchPayload {
  batch: Batch;
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  pause(): () => void;
  commitOffsetsIfNecessary(offsets?: Offsets): Promise<void>;
  uncommittedOffsets(): Offsets;
  isRunning(): boolean;
  isStale(): boolean;
}

export interface ConsumerRunConfig {
  autoCommit?: boolean;
  autoCommitInterval?: number | null;
  autoCommitThreshold?: number | null;
  eachBatchAutoResolve?: boolean;
  partitionsConsumedConcurrently?: number;
  eachBatch?: (payload: EachBatchPayload) => Promise<void>;
  eachMessage?: (payload: EachMessagePayload) => Promise<void>;
}

export const CONSUMER_EVENTS = {
  HEARTBEAT: 'consumer.heartbeat',
  COMMIT_OFFSETS: 'consumer.commit_offsets',
  GROUP_JOIN: 'consumer.group_join',
  FETCH_START: 'consumer.fetch_start',
  FETCH: 'consumer.fetch',
  START_BATCH_PROCESS: 'consumer.start_batch_process',
  END_BATCH_PROCESS: 'consumer.end_batch_process',
  CONNECT: 'consumer.connect',
  DISCONNECT: 'consumer.disconnect',
  STOP: 'consumer.stop',
  CRASH: 'consumer.crash',
  REBALANCING: 'consumer.rebalancing',
  RECEIVED_UNSUBSCRIBED_TOPICS: 'consumer.received_unsubscribed_topics',
  REQUEST: 'consumer.network.request',
  REQUEST_TIMEOUT: 'consumer.network.request_timeout',
  REQUEST_QUEUE_SIZE: 'consumer.network.request_queue_size',
} as const;

const EMITTED = new Set<string>([CONSUMER_EVENTS.GROUP_JOIN, CONSUMER_EVENTS.REBALANCING, CONSUMER_EVENTS.CRASH, CONSUMER_EVENTS.COMMIT_OFFSETS, CONSUMER_EVENTS.FETCH_START, CONSUMER_EVENTS.CONNECT, CONSUMER_EVENTS.DISCONNECT, CONSUMER_EVENTS.STOP]);

export interface InstrumentationEvent<T> {
  id: string;
  type: string;
  timestamp: number;
  payload: T;
}

const CONFIG_KEYS = { groupId: true, partitionAssigners: true, sessionTimeout: true, rebalanceTimeout: true, heartbeatInterval: true, maxBytesPerPartition: true, maxWaitTimeInMs: true, retry: true, readUncommitted: true } as const;
const SUBSCRIBE_KEYS = { topics: true, topic: true, fromBeginning: true } as const;
const RUN_KEYS = { autoCommit: true, autoCommitInterval: true, autoCommitThreshold: true, eachBatchAutoResolve: true, partitionsConsumedConcurrently: true, eachBatch: true, eachMessage: true } as const;
const CONFIG_HINTS = {
  minBytes: 'a Sluice fetch answers as soon as any record is there (minBytes 1)',
  maxBytes: 'each partition is fetched on its own, up to maxBytesPerPartition',
  rackId: 'Sluice has no racks: every fetch reads S3',
  allowAutoTopicCreation: 'Sluice never creates a topic for a consumer',
};

function toKafkaMessage(m: ConsumedMessage): KafkaMessage {
  return { key: m.key, value: m.value, timestamp: String(m.timestamp), attributes: 0, offset: String(m.offset), size: (m.key?.length ?? 0) + (m.value?.length ?? 0), headers: m.headers as IHeaders };
}

function toBatch(b: ConsumedBatch): Batch {
  const messages = b.messages.map(toKafkaMessage);
  const last = () => (b.messages.length === 0 ? b.highWatermark - 1 : (b.messages.at(-1) as ConsumedMessage).offset);
  return {
    topic: b.topic,
    partition: b.partition,
    highWatermark: String(b.highWatermark),
    messages,
    isEmpty: () => messages.length === 0,
    firstOffset: () => (messages[0]?.offset ?? null),
    lastOffset: () => String(last()),
    offsetLag: () => String(Math.max(0, b.highWatermark - 1 - last())),
    offsetLagLow: () => String(Math.max(0, b.highWatermark - 1 - (b.messages[0]?.offset ?? b.highWatermark - 1))),
  };
}

function byTopic(offsets: ReadonlyArray<{ topic: string; partition: number; offset: number }>): Offsets {
  const topics = new Map<string, Array<{ partition: number; offset: string }>>();
  for (const o of offsets) topics.set(o.topic, [...(topics.get(o.topic) ?? []), { partition: o.partition, offset: String(o.offset) }]);
  return { topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) };
}

export class Consumer {
  readonly events = CONSUMER_EVENTS;
  private readonly options: GroupConsumerOptions;
  private readonly subscriptions: Array<{ topics: string[]; fromBeginning: boolean }> = [];
  private readonly listeners = new Map<string, Array<(event: InstrumentationEvent<unknown>) => void>>();
  private readonly pendingPauses: Array<{ topic: string; partitions?: number[] }> = [];
  private native: NativeConsumer | undefined;
  private eventId = 0;

  constructor(
    private readonly sluice: Sluice,
    config: ConsumerConfig,
    private readonly log: Logger,
  ) {
    checkOptionKeys('kafka.consumer()', config, CONFIG_KEYS, CONFIG_HINTS);
    if (config.partitionAssigners !== undefined && config.partitionAssigners.some((a) => a !== PartitionAssigners.roundRobin)) {
      throw unsupported('a custom partition assigner', "the group's assignment is made by the server (KIP-848); PartitionAssigners.roundRobin maps onto its 'uniform' assignor");
    }
    this.options = {
      groupId: config.groupId,
      ...nativeRetry(config.retry),
      ...(config.sessionTimeout === undefined ? {} : { sessionTimeoutMs: config.sessionTimeout }),
      ...(config.heartbeatInterval === undefined ? {} : { heartbeatIntervalMs: config.heartbeatInterval }),
      ...(config.maxBytesPerPartition === undefined ? {} : { maxBytesPerPartition: config.maxBytesPerPartition }),
      ...(config.maxWaitTimeInMs === undefined ? {} : { maxWaitMs: config.maxWaitTimeInMs }),
      ...(config.partitionAssigners === undefined ? {} : { assignor: 'uniform' as const }),
      // kafkajs starts a partition without a committed offset at the log end unless fromBeginning.
      autoOffsetReset: 'latest',
    };
    // Fail now, as kafkajs does, on a bad group id or timeouts.
    sluice.consumer(this.options);
  }

  async connect(): Promise<void> {
    await kafkajsErrors(() => this.sluice.admin({ retry: this.retryOnly() }).connect());
    this.emit(CONSUMER_EVENTS.CONNECT, null);
  }

  async disconnect(): Promise<void> {
    await this.stop();
    this.emit(CONSUMER_EVENTS.DISCONNECT, null);
  }

  /** Stops consuming, commits what was processed (autoCommit) and leaves the group. */
  async stop(): Promise<void> {
    const native = this.native;
    this.native = undefined;
    if (native !== undefined) await kafkajsErrors(() => native.stop());
    this.emit(CONSUMER_EVENTS.STOP, null);
  }

  async subscribe(subscription: ConsumerSubscribeTopics | { topic: string | RegExp; fromBeginning?: boolean }): Promise<void> {
    checkOptionKeys('consumer.subscribe()', subscription, SUBSCRIBE_KEYS);
    if (this.native !== undefined) throw new KafkaJSNonRetriableError('Cannot subscribe to topic while consumer is running');
    const given = 'topics' in subscription ? subscription.topics : [subscription.topic];
    const patterns = given.filter((t): t is RegExp => t instanceof RegExp);
    const topics = given.filter((t): t is string => typeof t === 'string');
    if (patterns.length > 0) {
      const existing = await kafkajsErrors(() => this.sluice.admin({ retry: this.retryOnly() }).listTopics());
      for (const { name } of existing) if (patterns.some((p) => new RegExp(p.source, p.flags.replace('g', '')).test(name))) topics.push(name);
    }
    if (topics.length === 0) return;
    this.subscriptions.push({ topics, fromBeginning: subscription.fromBeginning === true });
  }

  async run(config: ConsumerRunConfig = {}): Promise<void> {
    checkOptionKeys('consumer.run()', config, RUN_KEYS);
    if (this.native !== undefined) throw new KafkaJSNonRetriableError('Consumer is already running');
    if (this.subscriptions.length === 0) throw new KafkaJSNonRetriableError('Consumer has no subscriptions: call subscribe() before run()');
    const autoCommit = config.autoCommit ?? true;
    const native = this.sluice.consumer({
      ...this.options,
      autoCommit,
      ...(config.autoCommitInterval == null ? {} : { autoCommitIntervalMs: config.autoCommitInterval }),
      ...(config.autoCommitThreshold == null ? {} : { autoCommitThreshold: config.autoCommitThreshold }),
      ...(config.partitionsConsumedConcurrently === undefined ? {} : { partitionsConsumedConcurrently: config.partitionsConsumedConcurrently }),
    });
    for (const s of this.subscriptions) native.subscribe({ topics: s.topics, fromBeginning: s.fromBeginning });
    if (this.pendingPauses.length > 0) native.pause(this.pendingPauses.splice(0));
    native.on('crash', ({ error }) => {
      this.log.error('Crash', { groupId: this.options.groupId, error: String(error) });
      this.emit(CONSUMER_EVENTS.CRASH, { error: toKafkaJSError(error), groupId: this.options.groupId, restart: false });
    });
    native.on('commit', (offsets) => this.emit(CONSUMER_EVENTS.COMMIT_OFFSETS, { groupId: this.options.groupId, memberId: native.memberId, groupGenerationId: native.memberEpoch, topics: byTopic(offsets).topics }));
    native.on('fetch', () => this.emit(CONSUMER_EVENTS.FETCH_START, { nodeId: 0 }));
    this.native = native;
    const started = Date.now();
    const pauseOf = (topic: string, partition: number) => () => {
      native.pause([{ topic, partitions: [partition] }]);
      return () => native.resume([{ topic, partitions: [partition] }]);
    };
    const heartbeat = async () => {};
    const onPartitionsAssigned = () => {
      this.emit(CONSUMER_EVENTS.GROUP_JOIN, {
        duration: Date.now() - started,
        groupId: this.options.groupId,
        isLeader: false,
        leaderId: '',
        groupProtocol: this.options.assignor ?? 'uniform',
        memberId: native.memberId,
        memberAssignment: Object.fromEntries(byTopic(native.assignment().map((p) => ({ ...p, offset: 0 }))).topics.map((t) => [t.topic, t.partitions.map((p) => p.partition)])),
      });
    };
    const onPartitionsRevoked = (_partitions: TopicPartition[]) => this.emit(CONSUMER_EVENTS.REBALANCING, { groupId: this.options.groupId, memberId: native.memberId });
    const { eachMessage, eachBatch } = config;
    await kafkajsErrors(() =>
      native.run({
        onPartitionsAssigned,
        onPartitionsRevoked,
        ...(config.eachBatchAutoResolve === undefined ? {} : { eachBatchAutoResolve: config.eachBatchAutoResolve }),
        ...(eachMessage === undefined
          ? {}
          : { eachMessage: ({ topic, partition, message }) => eachMessage({ topic, partition, message: toKafkaMessage(message), heartbeat, pause: pauseOf(topic, partition) }) }),
        ...(eachBatch === undefined
          ? {}
          : {
              eachBatch: ({ batch, isRunning, isStale, resolveOffset }) =>
                eachBatch({
                  batch: toBatch(batch),
                  resolveOffset: (offset) => resolveOffset(Number(offset)),
                  heartbeat,
                  pause: pauseOf(batch.topic, batch.partition),
                  isRunning,
                  isStale,
                  uncommittedOffsets: () => byTopic(native.uncommittedOffsets()),
                  commitOffsetsIfNecessary: async (offsets) => {
                    if (offsets !== undefined) await this.commitOffsets(offsets.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, ...p }))));
                    else if (autoCommit) await kafkajsErrors(() => native.commitProcessed());
                  },
                }),
            }),
      }),
    );
  }

  async commitOffsets(offsets: TopicPartitionOffsetAndMetadata[]): Promise<void> {
    const native = this.running('commitOffsets');
    await kafkajsErrors(() => native.commitOffsets(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset }))));
  }

  seek({ topic, partition, offset }: { topic: string; partition: number; offset: string }): void {
    const native = this.running('seek');
    try {
      native.seek({ topic, partition, offset: offset === '-1' ? 'latest' : offset === '-2' ? 'earliest' : offset });
    } catch (error) {
      throw toKafkaJSError(error);
    }
  }

  pause(topics: Array<{ topic: string; partitions?: number[] }>): void {
    if (this.native === undefined) this.pendingPauses.push(...topics);
    else this.native.pause(topics);
  }

  resume(topics: Array<{ topic: string; partitions?: number[] }>): void {
    if (this.native === undefined) {
      const resumed = new Set(topics.map((t) => t.topic));
      for (let i = this.pendingPauses.length - 1; i >= 0; i--) if (resumed.has((this.pendingPauses[i] as { topic: string }).topic)) this.pendingPauses.splice(i, 1);
    } else this.native.resume(topics);
  }

  paused(): Array<{ topic: string; partitions: number[] }> {
    return this.native?.paused() ?? [];
  }

  async describeGroup(): Promise<GroupDescription> {
    return kafkajsErrors(async () => {
      try {
        return toGroupDescription(await this.sluice.admin({ retry: this.retryOnly() }).describeGroup(this.options.groupId));
      } catch (error) {
        if (error instanceof SluiceError && error.code === 'GROUP_ID_NOT_FOUND') return deadGroup(this.options.groupId);
        throw error;
      }
    });
  }

  on(eventName: string, listener: (event: InstrumentationEvent<unknown>) => void): () => void {
    if (!EMITTED.has(eventName)) throw unsupported(`consumer event ${JSON.stringify(eventName)}`, `the events emitted are ${[...EMITTED].join(', ')}`);
    const list = this.listeners.get(eventName) ?? [];
    list.push(listener);
    this.listeners.set(eventName, list);
    return () => list.splice(list.indexOf(listener), 1);
  }

  logger(): Logger {
    return this.log;
  }

  private emit(type: string, payload: unknown): void {
    const event = { id: String(this.eventId++), type, timestamp: Date.now(), payload };
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }

  private running(what: string): NativeConsumer {
    if (this.native === undefined) throw new KafkaJSNonRetriableError(`Consumer group was not initialized, consumer#run must be called first (${what})`);
    return this.native;
  }

  private retryOnly(): NativeRetryOptions {
    const { retries, retryBackoffMs, retryBackoffMaxMs, requestTimeoutMs } = this.options;
    return Object.fromEntries(Object.entries({ retries, retryBackoffMs, retryBackoffMaxMs, requestTimeoutMs }).filter(([, v]) => v !== undefined));
  }
}
