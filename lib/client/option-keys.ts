/**
 * The option names every object the client takes may carry. A name the client does not know
 * is refused with a TypeError listing the valid ones, never dropped: a kafkajs habit such as
 * `createTopic({ numPartitions: 3 })` or `run({ autoCommit: false })` used to be accepted and
 * ignored, and the program then did something else than its author meant.
 *
 * Each list is a record over `keyof` the options type, so the compiler keeps it complete and
 * exact when an option is added or renamed. Values are checked elsewhere (options.ts), with
 * INVALID_CONFIG quoting the bad value; a wrong name is a programming error, hence TypeError.
 */
import type { AuthOptions } from './auth.ts';
import type { AlterTopicOptions, CreateTopicOptions } from './admin.ts';
import type { RunConfig, TopicAssignment } from './consumer.ts';
import type { GroupRunConfig } from './group-consumer.ts';
import type { ClaimCheckOptions, ConsumerOptions, GroupConsumerOptions, ProducerOptions, RetryOptions, SluiceOptions } from './options.ts';
import type { Message, ProducerRecord } from './types.ts';

/** Every name of `T`, each exactly once: `satisfies OptionKeys<T>` fails to compile if one is missing or extra. */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: true };

/** Some options (e.g. kafkajs's) mean something else here: the hint says what to use instead. */
export type KeyHints = Readonly<Record<string, string>>;

/**
 * Throws a TypeError if `options` has a key outside `valid`, naming it, the valid keys and a
 * hint for known names from other clients. `undefined` and `null` pass (no options given).
 */
export function checkOptionKeys(what: string, options: unknown, valid: Readonly<Record<string, true>>, hints: KeyHints = {}): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object' || Array.isArray(options)) throw new TypeError(`${what} takes an object, got ${Array.isArray(options) ? 'an array' : typeof options}`);
  for (const name in options) {
    if (Object.hasOwn(valid, name)) continue;
    const hint = Object.hasOwn(hints, name) ? ` (${hints[name]})` : '';
    throw new TypeError(`${what}: unknown option ${JSON.stringify(name)}${hint}; valid options are ${Object.keys(valid).join(', ')}`);
  }
}

export const RETRY_KEYS = { retries: true, retryBackoffMs: true, retryBackoffMaxMs: true, requestTimeoutMs: true } as const satisfies OptionKeys<RetryOptions>;

export const SLUICE_KEYS = { url: true, auth: true, fetch: true, retry: true } as const satisfies OptionKeys<SluiceOptions>;

type IamAuth = Extract<AuthOptions, { type: 'iam' }>;
export const IAM_AUTH_KEYS = { type: true, region: true, credentials: true, service: true } as const satisfies OptionKeys<IamAuth>;
export const NO_AUTH_KEYS = { type: true } as const satisfies OptionKeys<Extract<AuthOptions, { type: 'none' }>>;

export const PRODUCER_KEYS = {
  ...RETRY_KEYS,
  lingerMs: true,
  batchBytes: true,
  compression: true,
  maxInFlightRequests: true,
  bufferMemoryBytes: true,
  maxBlockMs: true,
  createPartitioner: true,
  maxRequestBytes: true,
  metadataMaxAgeMs: true,
  idempotent: true,
  claimCheck: true,
} as const satisfies OptionKeys<ProducerOptions>;

export const CLAIM_CHECK_KEYS = { thresholdBytes: true, partSizeBytes: true } as const satisfies OptionKeys<ClaimCheckOptions>;

export const PRODUCER_HINTS: KeyHints = {
  allowAutoTopicCreation: 'Sluice never creates topics on send; create them with admin().createTopic()',
  transactionalId: 'Sluice has no transactions',
};

export const CONSUMER_KEYS = {
  ...RETRY_KEYS,
  autoOffsetReset: true,
  maxWaitMs: true,
  maxBytesPerPartition: true,
  partitionsConsumedConcurrently: true,
  resolveClaimChecks: true,
} as const satisfies OptionKeys<ConsumerOptions>;

export const GROUP_CONSUMER_KEYS = {
  ...CONSUMER_KEYS,
  groupId: true,
  sessionTimeoutMs: true,
  heartbeatIntervalMs: true,
  rebalanceTimeoutMs: true,
  assignor: true,
  instanceId: true,
  autoCommit: true,
  autoCommitIntervalMs: true,
  autoCommitThreshold: true,
} as const satisfies OptionKeys<GroupConsumerOptions>;

export const CONSUMER_HINTS: KeyHints = {
  sessionTimeout: 'the native name is sessionTimeoutMs',
  heartbeatInterval: 'the native name is heartbeatIntervalMs',
  rebalanceTimeout: 'the native name is rebalanceTimeoutMs',
  maxWaitTimeInMs: 'the native name is maxWaitMs',
  fromBeginning: 'an option of subscribe() or assign()',
};

export const ADMIN_KEYS = { retry: true } as const satisfies OptionKeys<{ retry?: RetryOptions }>;

export const CREATE_TOPIC_KEYS = { topic: true, partitions: true, configs: true } as const satisfies OptionKeys<CreateTopicOptions>;
export const ALTER_TOPIC_KEYS = { partitions: true, configs: true } as const satisfies OptionKeys<AlterTopicOptions>;
export const TOPIC_HINTS: KeyHints = {
  numPartitions: 'the native name is partitions',
  configEntries: 'the native name is configs, an object such as { "retention.ms": 86400000 }',
  replicationFactor: 'Sluice keeps every record in S3; there are no replicas to configure',
};

export const SUBSCRIBE_KEYS = { topic: true, topics: true, fromBeginning: true } as const satisfies OptionKeys<{ topic?: string | RegExp; topics?: ReadonlyArray<string | RegExp>; fromBeginning?: boolean }>;
export const ASSIGN_KEYS = { topic: true, partitions: true, fromBeginning: true, fromTimestamp: true } as const satisfies OptionKeys<TopicAssignment>;

export const RUN_KEYS = { eachMessage: true, eachBatch: true, eachBatchAutoResolve: true } as const satisfies OptionKeys<RunConfig>;
export const GROUP_RUN_KEYS = { ...RUN_KEYS, onPartitionsAssigned: true, onPartitionsRevoked: true, onPartitionsLost: true, retry: true } as const satisfies OptionKeys<GroupRunConfig>;
export const RUN_HINTS: KeyHints = {
  autoCommit: 'an option of sluice.consumer({ groupId, autoCommit })',
  autoCommitInterval: 'an option of sluice.consumer({ groupId, autoCommitIntervalMs })',
  autoCommitThreshold: 'an option of sluice.consumer({ groupId, autoCommitThreshold })',
  partitionsConsumedConcurrently: 'an option of sluice.consumer({ partitionsConsumedConcurrently })',
};

export const SEND_KEYS = { topic: true, messages: true, acks: true } as const satisfies OptionKeys<ProducerRecord>;
export const SEND_HINTS: KeyHints = {
  compression: 'an option of sluice.producer({ compression })',
  timeout: 'the native name is requestTimeoutMs, an option of sluice.producer()',
};
export const SEND_BATCH_KEYS = { topicMessages: true, acks: true } as const;
export const TOPIC_MESSAGES_KEYS = { topic: true, messages: true } as const;

export const MESSAGE_KEYS = { key: true, value: true, headers: true, partition: true, timestamp: true } as const satisfies OptionKeys<Message>;

export const SEEK_KEYS = { topic: true, partition: true, offset: true } as const;
export const DELETE_RECORDS_KEYS = { topic: true, partitions: true } as const;
export const FETCH_OFFSETS_KEYS = { topics: true } as const;
