/**
 * kafkajs compatibility: `import { Kafka } from 'sluice/kafkajs'` in place of `'kafkajs'`, with
 * `brokers: [sluiceUrl]`. A thin adapter over the Sluice client (lib/client); what kafkajs has
 * and Sluice cannot do throws KafkaJSNonRetriableError saying so. docs/CLIENT.md has the
 * porting table.
 */
export { Kafka, type KafkaConfig, type RetryOptions, type SASLOptions } from './kafka.ts';
export { Producer, type ProducerConfig, type ProducerRecord, type ProducerBatch, type RecordMetadata, type Message, type IHeaders } from './producer.ts';
export {
  Consumer,
  type Batch,
  type ConsumerConfig,
  type ConsumerRunConfig,
  type ConsumerSubscribeTopics,
  type EachBatchPayload,
  type EachMessagePayload,
  type InstrumentationEvent,
  type KafkaMessage,
  type Offsets,
  type TopicPartitionOffsetAndMetadata,
} from './consumer.ts';
export { Admin, ConfigResourceTypes, type AdminConfig, type DescribeConfigResponse, type ITopicConfig, type ITopicMetadata, type PartitionMetadata } from './admin.ts';
export { type GroupDescription, type MemberDescription } from './group-description.ts';
export { CompressionTypes, logLevel, Partitioners, PartitionAssigners, type ICustomPartitioner, type LogEntry, type Logger, type logCreator, type PartitionerArgs } from './constants.ts';
export {
  KafkaJSConnectionError,
  KafkaJSDeleteGroupsError,
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSOffsetOutOfRange,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
} from './errors.ts';
