/**
 * Options of the client, the producer and the consumer: one defaults object each (Kafka's
 * defaults where Kafka has one, and the reason where we differ), merged and validated once
 * in a constructor. A bad value fails at once with INVALID_CONFIG, quoting it.
 */
import { BLOBS, GROUPS, LIMITS, TOPIC_CONFIG_DEFAULTS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import type { AuthOptions } from './auth.ts';
import type { ICustomPartitioner } from './partitioners.ts';
import { checkOptionKeys, CLAIM_CHECK_KEYS, CONSUMER_HINTS, CONSUMER_KEYS, GROUP_CONSUMER_KEYS, PRODUCER_HINTS, PRODUCER_KEYS, RETRY_KEYS } from './option-keys.ts';
import { COMPRESSIONS, type Compression, type GroupAssignor } from './types.ts';

/** How a client retries a request that failed with a retriable error, a 5xx or a network error. */
export interface RetryOptions {
  /**
   * Retries after the first attempt. Kafka's producer retries until `delivery.timeout.ms`
   * (2 minutes); a bounded count is easier to reason about in a function or a script.
   * @default 10 - about 5 s of backoff at the defaults below, plus any Retry-After waits
   */
  retries?: number;
  /** First backoff ceiling; each retry doubles it, with full jitter. @default 100 - Kafka's retry.backoff.ms */
  retryBackoffMs?: number;
  /** Backoff ceiling. @default 1000 - Kafka's retry.backoff.max.ms */
  retryBackoffMaxMs?: number;
  /** Time allowed for one HTTP request (a long poll adds its wait). @default 30000 - Kafka's request.timeout.ms */
  requestTimeoutMs?: number;
}

export type ResolvedRetryOptions = Readonly<Required<RetryOptions>>;

export const RETRY_DEFAULTS = {
  retries: 10,
  retryBackoffMs: 100,
  retryBackoffMaxMs: 1000,
  requestTimeoutMs: 30_000,
} as const satisfies ResolvedRetryOptions;

/** What `new Sluice(...)` takes. */
export interface SluiceOptions {
  /** Base URL of the API, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com` or `http://127.0.0.1:4100`. */
  url: string;
  /** @default { type: 'none' } - unsigned requests, as the local stack takes them */
  auth?: AuthOptions;
  /** A fetch implementation, e.g. a wrapper that counts or fails requests in tests. @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** Retry defaults for every client made from this one; each client's options override them. */
  retry?: RetryOptions;
}

export interface ProducerOptions extends RetryOptions {
  /**
   * How long a batch waits for more records before it is sent. @default 5 - Kafka 4.0's linger.ms
   */
  lingerMs?: number;
  /**
   * A partition's batch is sent once it holds this many bytes (its encoded, uncompressed
   * size), and never grows past the topic's `max.message.bytes`. Kafka's batch.size is 16 KiB
   * because a broker request is cheap; here every request is a Lambda invocation, an S3 PUT
   * and a DynamoDB transaction, so batches are as large as a topic allows by default.
   * @default 1048576 - 1 MiB, which fits the default max.message.bytes (1048588)
   */
  batchBytes?: number;
  /** @default 'none' */
  compression?: Compression;
  /**
   * Requests in flight at once, across topics. Each partition has at most one request in
   * flight whatever this is, so records of a partition are appended in send order even when
   * requests are retried. @default 5 - Kafka's max.in.flight.requests.per.connection
   */
  maxInFlightRequests?: number;
  /**
   * Bytes of records held by the producer, buffered or in flight; `send` waits when this is
   * full (at most `maxBlockMs`). @default 33554432 - 32 MiB, Kafka's buffer.memory
   */
  bufferMemoryBytes?: number;
  /**
   * How long a `send` may wait for buffer space (the buffer stays full while the server
   * throttles, e.g. under lag-driven backpressure). Past it, the messages not yet buffered
   * fail with REQUEST_TIMED_OUT saying so; those already buffered are still sent.
   * @default 60000 - Kafka's max.block.ms
   */
  maxBlockMs?: number;
  /**
   * Picks the partition of each message without an explicit one (kafkajs's signature):
   * `Partitioners.salted({ fanout })`, or your own. @default - Kafka's murmur2 for keys, sticky for keyless records
   */
  createPartitioner?: ICustomPartitioner;
  /** Largest request body: the ready batches of a topic are split across requests under it. @default 4194304 - 4 MiB, under the API's 4.5 MiB */
  maxRequestBytes?: number;
  /** Topic metadata (partition count, max.message.bytes) is described again after this long. @default 300000 - Kafka's metadata.max.age.ms */
  metadataMaxAgeMs?: number;
  /**
   * Producer ids and sequence numbers on every batch, so the server appends a retried batch
   * once (a retry after a lost answer is then no duplicate). @default true - Kafka's enable.idempotence since 3.0
   */
  idempotent?: boolean;
  /**
   * Claim check: a value larger than `thresholdBytes` is uploaded to S3 first (through the
   * API's presigned URLs; in parts, in parallel, above `partSizeBytes`) and the record carries
   * a reference to it, marked by the `sluice.claim-check` header. `false` sends every value
   * inline. @default { thresholdBytes: 262144 }
   */
  claimCheck?: ClaimCheckOptions | false;
}

/** The producer's claim-check settings. */
export interface ClaimCheckOptions {
  /** Values larger than this are uploaded. @default 262144 - 256 KiB */
  thresholdBytes?: number;
  /** Values larger than this are uploaded in parts of this size, in parallel. @default 67108864 - 64 MiB */
  partSizeBytes?: number;
}

export type ResolvedProducerOptions = Readonly<Required<Omit<ProducerOptions, 'createPartitioner'>> & { createPartitioner: ICustomPartitioner | undefined }>;

export const PRODUCER_DEFAULTS = {
  ...RETRY_DEFAULTS,
  lingerMs: 5,
  batchBytes: 1_048_576,
  compression: 'none',
  maxInFlightRequests: 5,
  bufferMemoryBytes: 32 * 1024 * 1024,
  maxBlockMs: 60_000,
  createPartitioner: undefined,
  maxRequestBytes: 4 * 1024 * 1024,
  metadataMaxAgeMs: 300_000,
  idempotent: true,
  claimCheck: { thresholdBytes: BLOBS.thresholdBytes },
} as const satisfies ResolvedProducerOptions;

/** What to do when the position is outside the log (or, at start, when none was given). */
export type AutoOffsetReset = 'earliest' | 'latest' | 'none';

export interface ConsumerOptions extends RetryOptions {
  /**
   * Where to go when a fetch answers OFFSET_OUT_OF_RANGE, and where to start a partition
   * that was given no position. `none` surfaces the error instead. @default 'latest' - Kafka's auto.offset.reset
   */
  autoOffsetReset?: AutoOffsetReset;
  /**
   * Long poll: how long a fetch waits at the end of the log for new records. Kafka's
   * fetch.max.wait.ms is 500; a Sluice fetch is a paid request, and a long poll answers as
   * soon as records arrive, so waiting longer only saves requests. @default 5000
   */
  maxWaitMs?: number;
  /** Bytes per fetch of one partition (the first batch comes whole even if larger). @default 1048576 - Kafka's max.partition.fetch.bytes */
  maxBytesPerPartition?: number;
  /** Partitions whose handlers may run at once; each partition's records are always handled in order. @default 1 - as kafkajs */
  partitionsConsumedConcurrently?: number;
  /**
   * Claim-check records (`sluice.claim-check` header) are handed over with their value
   * downloaded and its SHA-256 checked (a mismatch is CORRUPT_MESSAGE); `false` hands over
   * the reference itself. @default true
   */
  resolveClaimChecks?: boolean;
}

export type ResolvedConsumerOptions = Readonly<Required<ConsumerOptions>>;

export const CONSUMER_DEFAULTS = {
  ...RETRY_DEFAULTS,
  autoOffsetReset: 'latest',
  maxWaitMs: 5000,
  maxBytesPerPartition: 1_048_576,
  partitionsConsumedConcurrently: 1,
  resolveClaimChecks: true,
} as const satisfies ResolvedConsumerOptions;

/** A consumer in a group (Kafka's subscribe mode): the group assigns the partitions. */
export interface GroupConsumerOptions extends ConsumerOptions {
  /** The group to join: 1–249 of ASCII letters, digits, '.', '_' and '-'. */
  groupId: string;
  /**
   * A member that does not heartbeat for this long is removed and its partitions move.
   * Applied only by a join into an empty or new group (KIP-848 makes it a group setting).
   * @default - the group's; 45000 for a new group (Kafka's group.consumer.session.timeout.ms)
   */
  sessionTimeoutMs?: number;
  /** How often members heartbeat; applied as `sessionTimeoutMs` is. @default - the group's; 5000 for a new group */
  heartbeatIntervalMs?: number;
  /** @default - the group's choice: what most members ask for, 'uniform' when none asks */
  assignor?: GroupAssignor;
  /**
   * Kafka's group.instance.id: makes the member static. On stop it leaves with epoch -2 and
   * the group keeps its partitions for the session timeout, so a restart under the same
   * instanceId within it gets them back and nothing moves. Unique per running consumer: a
   * second one joining with it while the first runs is refused (UNRELEASED_INSTANCE_ID).
   * @default - a dynamic member
   */
  instanceId?: string;
  /**
   * Time this member has to stop handling a revoked partition and release it; past it the
   * group fences the member (onPartitionsLost, then a rejoin) and the partition moves on.
   * @default 300000 - Kafka's max.poll.interval.ms
   */
  rebalanceTimeoutMs?: number;
  /** Commit processed offsets every `autoCommitIntervalMs`, on revocation and on stop. @default true - Kafka's enable.auto.commit */
  autoCommit?: boolean;
  /** @default 5000 - Kafka's auto.commit.interval.ms */
  autoCommitIntervalMs?: number;
  /** With autoCommit, also commit once this many records were processed since the last commit (kafkajs's autoCommitThreshold). @default - by interval only */
  autoCommitThreshold?: number;
}

export type ResolvedGroupConsumerOptions = ResolvedConsumerOptions &
  Readonly<{
    groupId: string;
    sessionTimeoutMs: number | undefined;
    heartbeatIntervalMs: number | undefined;
    rebalanceTimeoutMs: number | undefined;
    assignor: GroupAssignor | undefined;
    instanceId: string | undefined;
    autoCommit: boolean;
    autoCommitIntervalMs: number;
    autoCommitThreshold: number | undefined;
  }>;

export const GROUP_CONSUMER_DEFAULTS = {
  autoCommit: true,
  autoCommitIntervalMs: 5000,
} as const satisfies Partial<ResolvedGroupConsumerOptions>;

/** Kafka's rule for group ids, as the server applies it. */
const GROUP_ID = /^[a-zA-Z0-9._-]{1,249}$/;
const ASSIGNORS: readonly GroupAssignor[] = ['uniform', 'range'];

function invalid(name: string, value: unknown, rule: string): SluiceError {
  return new SluiceError('INVALID_CONFIG', `${name} must be ${rule}, got ${JSON.stringify(value) ?? String(value)}`);
}

function integerIn(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  const ok = (Number.isSafeInteger(value) || value === Number.POSITIVE_INFINITY) && value >= min && value <= max;
  if (!ok) throw invalid(name, value, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`);
}

/** Drops keys whose value is undefined, so they do not override defaults. */
function defined<T extends object>(options: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(options ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Merges retry options over the defaults and validates them. `retries` may be Infinity. */
export function resolveRetryOptions(...layers: Array<RetryOptions | undefined>): ResolvedRetryOptions {
  const merged: ResolvedRetryOptions = Object.assign({}, RETRY_DEFAULTS, ...layers.map(defined));
  integerIn('retries', merged.retries, 0, Number.POSITIVE_INFINITY);
  integerIn('retryBackoffMs', merged.retryBackoffMs, 0);
  integerIn('retryBackoffMaxMs', merged.retryBackoffMaxMs, merged.retryBackoffMs);
  integerIn('requestTimeoutMs', merged.requestTimeoutMs, 1);
  return merged;
}

/** Checks the names in a `retry` object (`new Sluice({ retry })`, `admin({ retry })`): a TypeError for an unknown one. */
export function checkRetryKeys(what: string, retry: RetryOptions | undefined): void {
  checkOptionKeys(what, retry, RETRY_KEYS);
}

export function resolveProducerOptions(options: ProducerOptions | undefined, retry: RetryOptions | undefined): ResolvedProducerOptions {
  checkOptionKeys('sluice.producer()', options, PRODUCER_KEYS, PRODUCER_HINTS);
  const { retries: _r, retryBackoffMs: _b, retryBackoffMaxMs: _m, requestTimeoutMs: _t, ...own } = defined(options);
  const merged: ResolvedProducerOptions = { ...PRODUCER_DEFAULTS, ...resolveRetryOptions(retry, options), ...own };
  integerIn('lingerMs', merged.lingerMs, 0);
  integerIn('maxRequestBytes', merged.maxRequestBytes, 1024, LIMITS.maxRequestBytes);
  integerIn('batchBytes', merged.batchBytes, 1, LIMITS.maxMessageBytesCap);
  if (!COMPRESSIONS.includes(merged.compression)) throw invalid('compression', merged.compression, `one of ${COMPRESSIONS.join(', ')}`);
  integerIn('maxInFlightRequests', merged.maxInFlightRequests, 1);
  integerIn('bufferMemoryBytes', merged.bufferMemoryBytes, 1);
  integerIn('maxBlockMs', merged.maxBlockMs, 0);
  if (merged.createPartitioner !== undefined && typeof merged.createPartitioner !== 'function') throw invalid('createPartitioner', merged.createPartitioner, 'a function returning a partitioner (kafkajs ICustomPartitioner)');
  integerIn('metadataMaxAgeMs', merged.metadataMaxAgeMs, 0);
  if (merged.claimCheck !== false) {
    if (typeof merged.claimCheck !== 'object' || merged.claimCheck === null) throw invalid('claimCheck', merged.claimCheck, 'false or { thresholdBytes, partSizeBytes }');
    checkOptionKeys('sluice.producer({ claimCheck })', merged.claimCheck, CLAIM_CHECK_KEYS);
    if (merged.claimCheck.thresholdBytes !== undefined) integerIn('claimCheck.thresholdBytes', merged.claimCheck.thresholdBytes, 0);
    if (merged.claimCheck.partSizeBytes !== undefined) integerIn('claimCheck.partSizeBytes', merged.claimCheck.partSizeBytes, BLOBS.minPartBytes);
  }
  return merged;
}

export function resolveConsumerOptions(options: ConsumerOptions | undefined, retry: RetryOptions | undefined): ResolvedConsumerOptions {
  checkOptionKeys('sluice.consumer()', options, CONSUMER_KEYS, CONSUMER_HINTS);
  const { retries: _r, retryBackoffMs: _b, retryBackoffMaxMs: _m, requestTimeoutMs: _t, ...own } = defined(options);
  const merged: ResolvedConsumerOptions = { ...CONSUMER_DEFAULTS, ...resolveRetryOptions(retry, options), ...own };
  if (!['earliest', 'latest', 'none'].includes(merged.autoOffsetReset)) throw invalid('autoOffsetReset', merged.autoOffsetReset, "'earliest', 'latest' or 'none'");
  integerIn('maxWaitMs', merged.maxWaitMs, 0, LIMITS.maxWaitMs);
  integerIn('maxBytesPerPartition', merged.maxBytesPerPartition, 1, LIMITS.maxFetchResponseBytes);
  integerIn('partitionsConsumedConcurrently', merged.partitionsConsumedConcurrently, 1);
  return merged;
}

/** The default `max.message.bytes` of a topic, for when a description lacks it. */
export const DEFAULT_MAX_MESSAGE_BYTES = TOPIC_CONFIG_DEFAULTS['max.message.bytes'];

export function resolveGroupConsumerOptions(options: GroupConsumerOptions, retry: RetryOptions | undefined): ResolvedGroupConsumerOptions {
  checkOptionKeys('sluice.consumer({ groupId })', options, GROUP_CONSUMER_KEYS, CONSUMER_HINTS);
  const { groupId, sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs, assignor, instanceId, autoCommit, autoCommitIntervalMs, autoCommitThreshold, ...consumer } = options;
  if (instanceId !== undefined && (typeof instanceId !== 'string' || instanceId.length === 0 || instanceId.length > 255)) throw invalid('instanceId', instanceId, 'a string of 1–255 characters');
  if (typeof groupId !== 'string' || !GROUP_ID.test(groupId) || groupId === '.' || groupId === '..') throw invalid('groupId', groupId, "1–249 of ASCII letters, digits, '.', '_' and '-'");
  if (sessionTimeoutMs !== undefined) integerIn('sessionTimeoutMs', sessionTimeoutMs, GROUPS.minSessionTimeoutMs, GROUPS.maxSessionTimeoutMs);
  if (heartbeatIntervalMs !== undefined) {
    integerIn('heartbeatIntervalMs', heartbeatIntervalMs, GROUPS.minHeartbeatIntervalMs, GROUPS.maxSessionTimeoutMs);
    const session = sessionTimeoutMs ?? GROUPS.sessionTimeoutMs;
    if (heartbeatIntervalMs >= session) throw invalid('heartbeatIntervalMs', heartbeatIntervalMs, `below sessionTimeoutMs (${session})`);
  }
  if (rebalanceTimeoutMs !== undefined) integerIn('rebalanceTimeoutMs', rebalanceTimeoutMs, 1, 2_147_483_647);
  if (assignor !== undefined && !ASSIGNORS.includes(assignor)) throw invalid('assignor', assignor, `one of ${ASSIGNORS.join(', ')}`);
  if (autoCommit !== undefined && typeof autoCommit !== 'boolean') throw invalid('autoCommit', autoCommit, 'a boolean');
  const interval = autoCommitIntervalMs ?? GROUP_CONSUMER_DEFAULTS.autoCommitIntervalMs;
  integerIn('autoCommitIntervalMs', interval, 1);
  if (autoCommitThreshold !== undefined) integerIn('autoCommitThreshold', autoCommitThreshold, 1);
  return {
    ...resolveConsumerOptions(consumer, retry),
    groupId,
    sessionTimeoutMs,
    heartbeatIntervalMs,
    rebalanceTimeoutMs,
    assignor,
    instanceId,
    autoCommit: autoCommit ?? GROUP_CONSUMER_DEFAULTS.autoCommit,
    autoCommitIntervalMs: interval,
    autoCommitThreshold,
  };
}
