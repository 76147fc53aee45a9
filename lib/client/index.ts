/** The Sluice client: `import { Sluice } from 'sluice/client'` (or lib/client/index.ts in this repo). */
export { Sluice } from './sluice.ts';
export { Producer, type ProducerStats } from './producer.ts';
export { compoundKey, Partitioners, saltedPartitions, type ICustomPartitioner, type PartitionerArgs, type PartitionerFunction, type PartitionMetadata, type SaltedOptions } from './partitioners.ts';
export { SendError } from './producer-batch.ts';
export { DEFAULT_CLOSE_TIMEOUT_MS, type CloseOptions } from './close.ts';
export { MAX_RETRY_AFTER_MS } from './http.ts';
export { Consumer, type RetryEvent, type RunConfig, type TopicAssignment, type TopicPartitions } from './consumer.ts';
export { GroupConsumer, type GroupRunConfig } from './group-consumer.ts';
export { type RetryPolicy } from './retry-topics.ts';
export { RETRY_HEADERS } from './retry-headers.ts';
export { Admin, type AlterTopicOptions, type CreateTopicOptions } from './admin.ts';
export { type AuthOptions, type AwsCredentials } from './auth.ts';
export {
  CONSUMER_DEFAULTS,
  GROUP_CONSUMER_DEFAULTS,
  PRODUCER_DEFAULTS,
  RETRY_DEFAULTS,
  type AutoOffsetReset,
  type ConsumerOptions,
  type GroupConsumerOptions,
  type ProducerOptions,
  type RetryOptions,
  type SluiceOptions,
} from './options.ts';
export * from './types.ts';
export { SluiceError, ERROR_TABLE, type ErrorName } from '../errors.ts';
export { partitionForKey } from '../log/partitioner.ts';
export { hotPartitions } from './hot-partitions.ts';
