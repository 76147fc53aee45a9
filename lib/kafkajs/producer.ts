/**
 * kafkajs's producer over the native one. `send` answers kafkajs's RecordMetadata: one entry
 * per partition written, offsets as strings. Per-send compression picks a native producer per
 * codec (the native producer compresses by producer), created on first use.
 */
import type { Admin as NativeAdmin, Compression, Message as NativeMessage, Producer as NativeProducer, ProducerOptions, RecordMetadata as NativeRecordMetadata, Sluice } from '../client/index.ts';
import { SluiceError } from '../errors.ts';
import { checkOptionKeys } from '../client/option-keys.ts';
import { compressionOf, Partitioners, type ICustomPartitioner, type Logger, type PartitionerArgs } from './constants.ts';
import { kafkajsErrors, unsupported } from './errors.ts';
import { nativeRetry, type RetryOptions } from './kafka.ts';

export interface ProducerConfig {
  createPartitioner?: ICustomPartitioner;
  retry?: RetryOptions;
  metadataMaxAge?: number;
  /** @default true, as kafkajs: a send to a missing topic creates it with the server's defaults. */
  allowAutoTopicCreation?: boolean;
  idempotent?: boolean;
  maxInFlightRequests?: number;
  transactionalId?: string;
}

export interface IHeaders {
  [key: string]: Buffer | string | (Buffer | string)[] | undefined;
}

export interface Message {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  partition?: number;
  headers?: IHeaders;
  timestamp?: string;
}

export interface ProducerRecord {
  topic: string;
  messages: Message[];
  acks?: number;
  /** The broker's wait for replicas; Sluice acknowledges after its durable write, so there is nothing to wait for. */
  timeout?: number;
  compression?: number;
}

export interface ProducerBatch {
  acks?: number;
  timeout?: number;
  compression?: number;
  topicMessages?: Array<{ topic: string; messages: Message[] }>;
}

/** kafkajs's RecordMetadata: per partition written, the first offset of this send's records there. */
export interface RecordMetadata {
  topicName: string;
  partition: number;
  errorCode: number;
  offset: string;
  baseOffset: string;
}

const PRODUCER_CONFIG_KEYS = { createPartitioner: true, retry: true, metadataMaxAge: true, allowAutoTopicCreation: true, idempotent: true, maxInFlightRequests: true, transactionalId: true } as const;
const RECORD_KEYS = { topic: true, messages: true, acks: true, timeout: true, compression: true } as const;
const BATCH_KEYS = { topicMessages: true, acks: true, timeout: true, compression: true } as const;
const METADATA_MAX_AGE_MS = 300_000;

export const PRODUCER_EVENTS = { CONNECT: 'producer.connect', DISCONNECT: 'producer.disconnect', REQUEST: 'producer.network.request', REQUEST_TIMEOUT: 'producer.network.request_timeout', REQUEST_QUEUE_SIZE: 'producer.network.request_queue_size' } as const;

/** One entry per partition, in order of first appearance, offset the lowest of this send's there. */
export function toRecordMetadata(results: readonly NativeRecordMetadata[]): RecordMetadata[] {
  const first = new Map<string, NativeRecordMetadata>();
  for (const r of results) {
    const k = `${r.topic}\u0000${r.partition}`;
    const seen = first.get(k);
    if (seen === undefined || (r.offset >= 0 && r.offset < seen.offset)) first.set(k, r);
  }
  return [...first.values()].map((r) => ({ topicName: r.topic, partition: r.partition, errorCode: 0, offset: String(r.offset), baseOffset: String(r.offset) }));
}

export class Producer {
  readonly events = PRODUCER_EVENTS;
  private readonly natives = new Map<Compression, NativeProducer>();
  private readonly admin: NativeAdmin;
  private readonly options: ProducerOptions;
  private readonly partitioner: ((args: PartitionerArgs) => number) | undefined;
  private readonly partitionCounts = new Map<string, { count: number; atMs: number }>();
  private readonly listeners = new Map<string, Array<(event: { id: number; type: string; timestamp: number; payload: null }) => void>>();
  private readonly autoCreate: boolean;
  private readonly metadataMaxAgeMs: number;

  constructor(
    private readonly sluice: Sluice,
    config: ProducerConfig,
    private readonly log: Logger,
  ) {
    checkOptionKeys('kafka.producer()', config, PRODUCER_CONFIG_KEYS);
    if (config.transactionalId !== undefined) throw unsupported('transactionalId', 'Sluice has no transactions; an idempotent producer still appends each record once');
    const { createPartitioner } = config;
    if (createPartitioner === Partitioners.LegacyPartitioner) throw unsupported('Partitioners.LegacyPartitioner', "Sluice maps keys with Kafka's murmur2 (Partitioners.DefaultPartitioner), and kafkajs 1.x's mapping would put keys elsewhere");
    this.partitioner = createPartitioner === undefined || createPartitioner === Partitioners.DefaultPartitioner || createPartitioner === Partitioners.JavaCompatiblePartitioner ? undefined : createPartitioner();
    this.autoCreate = config.allowAutoTopicCreation ?? true;
    this.metadataMaxAgeMs = config.metadataMaxAge ?? METADATA_MAX_AGE_MS;
    this.options = {
      ...nativeRetry(config.retry),
      ...(config.idempotent === undefined ? {} : { idempotent: config.idempotent }),
      ...(config.maxInFlightRequests === undefined ? {} : { maxInFlightRequests: config.maxInFlightRequests }),
      ...(config.metadataMaxAge === undefined ? {} : { metadataMaxAgeMs: config.metadataMaxAge }),
    };
    this.admin = sluice.admin({ retry: nativeRetry(config.retry) });
    this.native('none');
  }

  /** Checks that the API answers; rejects with a KafkaJSConnectionError naming the cause if not. */
  async connect(): Promise<void> {
    await kafkajsErrors(() => this.native('none').connect());
    this.emit(PRODUCER_EVENTS.CONNECT);
  }

  /** Sends what is buffered, then refuses further sends. */
  async disconnect(): Promise<void> {
    await kafkajsErrors(() => Promise.all([...this.natives.values()].map((p) => p.disconnect())));
    this.emit(PRODUCER_EVENTS.DISCONNECT);
  }

  isIdempotent(): boolean {
    return this.options.idempotent ?? true;
  }

  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    checkOptionKeys('producer.send()', record, RECORD_KEYS);
    return this.sendTo(record.topic, record.messages, record.acks, record.compression);
  }

  /** Several topics; results of all of them, in order. */
  async sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    checkOptionKeys('producer.sendBatch()', batch, BATCH_KEYS);
    const results = await Promise.all((batch.topicMessages ?? []).map((t) => this.sendTo(t.topic, t.messages, batch.acks, batch.compression)));
    return results.flat();
  }

  transaction(): never {
    throw unsupported('producer.transaction()', 'Sluice has no transactions');
  }

  on(event: string, listener: (event: { id: number; type: string; timestamp: number; payload: null }) => void): () => void {
    if (event !== PRODUCER_EVENTS.CONNECT && event !== PRODUCER_EVENTS.DISCONNECT) throw unsupported(`producer event ${JSON.stringify(event)}`, 'only CONNECT and DISCONNECT are emitted');
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return () => list.splice(list.indexOf(listener), 1);
  }

  logger(): Logger {
    return this.log;
  }

  private emit(type: string): void {
    for (const listener of this.listeners.get(type) ?? []) listener({ id: 0, type, timestamp: Date.now(), payload: null });
  }

  private native(compression: Compression): NativeProducer {
    let producer = this.natives.get(compression);
    if (producer === undefined) {
      producer = this.sluice.producer({ ...this.options, compression });
      this.natives.set(compression, producer);
    }
    return producer;
  }

  private async sendTo(topic: string, messages: readonly Message[], acks: number | undefined, compressionCode: number | undefined): Promise<RecordMetadata[]> {
    const compression = compressionOf(compressionCode ?? 0);
    if (compression === undefined) throw unsupported(`compression ${JSON.stringify(compressionCode)}`, 'use one of CompressionTypes');
    if (acks !== undefined && acks !== -1 && acks !== 0 && acks !== 1) throw new TypeError(`acks must be -1, 0 or 1, got ${JSON.stringify(acks)}`);
    return kafkajsErrors(async () => {
      const send = async () => this.native(compression).send({ topic, messages: await this.partitioned(topic, messages), ...(acks === undefined ? {} : { acks: acks as -1 | 0 | 1 }) });
      try {
        return toRecordMetadata(await send());
      } catch (error) {
        if (!this.autoCreate || !(error instanceof SluiceError) || error.code !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
        await this.createTopic(topic);
        return toRecordMetadata(await send());
      }
    });
  }

  /** allowAutoTopicCreation: the topic, with the server's defaults (1 partition, as Kafka's num.partitions). */
  private async createTopic(topic: string): Promise<void> {
    try {
      await this.admin.createTopic({ topic });
      this.log.info('Created topic on first send (allowAutoTopicCreation)', { topic });
    } catch (error) {
      if (!(error instanceof SluiceError) || error.code !== 'TOPIC_ALREADY_EXISTS') throw error;
    }
  }

  /** With a custom partitioner, each message without a partition gets the one it picks. */
  private async partitioned(topic: string, messages: readonly Message[]): Promise<NativeMessage[]> {
    const partitioner = this.partitioner;
    if (partitioner === undefined || messages.every((m) => m.partition !== undefined)) return messages as NativeMessage[];
    const count = await this.partitionCount(topic);
    const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [] }));
    return messages.map((message) => (message.partition !== undefined ? message : { ...message, partition: partitioner({ topic, partitionMetadata, message }) })) as NativeMessage[];
  }

  private async partitionCount(topic: string): Promise<number> {
    const cached = this.partitionCounts.get(topic);
    if (cached !== undefined && Date.now() - cached.atMs < this.metadataMaxAgeMs) return cached.count;
    const { partitions } = await this.admin.describeTopic(topic);
    this.partitionCounts.set(topic, { count: partitions.length, atMs: Date.now() });
    return partitions.length;
  }
}
