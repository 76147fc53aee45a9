/**
 * kafkajs's error classes, with its names and fields (`retriable`, `type`, `code`), and the one
 * mapping from a SluiceError onto them. A kafkajs program that catches KafkaJSProtocolError and
 * tests `error.type === 'UNKNOWN_TOPIC_OR_PARTITION'` keeps working: Sluice's error names are
 * Kafka's.
 */
import { SluiceError, type ErrorName } from '../errors.ts';

/** Kafka's protocol error codes for the names Sluice shares with Kafka; -1 (UNKNOWN_SERVER_ERROR) for Sluice's own HTTP ones. */
const KAFKA_CODES: Readonly<Record<ErrorName, number>> = {
  UNKNOWN_SERVER_ERROR: -1,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  REQUEST_TIMED_OUT: 7,
  MESSAGE_TOO_LARGE: 10,
  INVALID_TOPIC_EXCEPTION: 17,
  RECORD_LIST_TOO_LARGE: 18,
  INVALID_TIMESTAMP: 32,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_CONFIG: 40,
  INVALID_REQUEST: 42,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  INVALID_PRODUCER_EPOCH: 47,
  CONCURRENT_TRANSACTIONS: 51,
  KAFKA_STORAGE_ERROR: 56,
  UNKNOWN_PRODUCER_ID: 59,
  NON_EMPTY_GROUP: 68,
  GROUP_ID_NOT_FOUND: 69,
  GROUP_MAX_SIZE_REACHED: 81,
  GROUP_SUBSCRIBED_TO_TOPIC: 86,
  UNSUPPORTED_COMPRESSION_TYPE: 76,
  INVALID_RECORD: 87,
  THROTTLING_QUOTA_EXCEEDED: 89,
  FENCED_MEMBER_EPOCH: 110,
  UNSUPPORTED_ASSIGNOR: 112,
  STALE_MEMBER_EPOCH: 113,
  UNSUPPORTED_MEDIA_TYPE: -1,
  METHOD_NOT_ALLOWED: -1,
  NOT_FOUND: -1,
};

/** kafkajs's base error: `retriable` says whether the same call can succeed later. */
export class KafkaJSError extends Error {
  readonly retriable: boolean;
  readonly helpUrl: string | undefined;
  override readonly cause: Error | undefined;

  constructor(e: Error | string, { retriable = true, cause }: { retriable?: boolean; cause?: Error } = {}) {
    super(typeof e === 'string' ? e : e.message, cause === undefined ? undefined : { cause });
    this.name = 'KafkaJSError';
    this.retriable = retriable;
    this.helpUrl = undefined;
    this.cause = cause;
  }
}

/** What can never succeed, including every kafkajs feature Sluice does not have. */
export class KafkaJSNonRetriableError extends KafkaJSError {
  constructor(e: Error | string, { cause }: { cause?: Error } = {}) {
    super(e, { retriable: false, ...(cause === undefined ? {} : { cause }) });
    this.name = 'KafkaJSNonRetriableError';
  }
}

/** An error the server answered with: `type` is the Kafka error name, `code` its protocol code. */
export class KafkaJSProtocolError extends KafkaJSError {
  readonly type: string;
  readonly code: number;

  constructor(e: { message: string; type: string; code: number; retriable: boolean } | string, { retriable, cause }: { retriable?: boolean; cause?: Error } = {}) {
    const fields = typeof e === 'string' ? { message: e, type: 'UNKNOWN', code: -1, retriable: retriable ?? false } : e;
    super(fields.message, { retriable: retriable ?? fields.retriable, ...(cause === undefined ? {} : { cause }) });
    this.name = 'KafkaJSProtocolError';
    this.type = fields.type;
    this.code = fields.code;
  }
}

export class KafkaJSOffsetOutOfRange extends KafkaJSProtocolError {
  readonly topic: string | undefined;
  readonly partition: number | undefined;

  constructor(e: { message: string; type: string; code: number; retriable: boolean }, { topic, partition, cause }: { topic?: string; partition?: number; cause?: Error } = {}) {
    super(e, { retriable: false, ...(cause === undefined ? {} : { cause }) });
    this.name = 'KafkaJSOffsetOutOfRange';
    this.topic = topic;
    this.partition = partition;
  }
}

/** No answer: refused, unknown host, TLS, reset. */
export class KafkaJSConnectionError extends KafkaJSError {
  readonly broker: string | undefined;
  readonly code: string | undefined;

  constructor(e: Error | string, { broker, code, cause }: { broker?: string; code?: string; cause?: Error } = {}) {
    super(e, { retriable: true, ...(cause === undefined ? {} : { cause }) });
    this.name = 'KafkaJSConnectionError';
    this.broker = broker;
    this.code = code;
  }
}

export class KafkaJSRequestTimeoutError extends KafkaJSError {
  constructor(e: Error | string, { cause }: { cause?: Error } = {}) {
    super(e, { retriable: true, ...(cause === undefined ? {} : { cause }) });
    this.name = 'KafkaJSRequestTimeoutError';
  }
}

export class KafkaJSNumberOfRetriesExceeded extends KafkaJSNonRetriableError {
  readonly retryCount: number;
  readonly retryTime: number;

  constructor(e: Error | string, { retryCount = 0, retryTime = 0, cause }: { retryCount?: number; retryTime?: number; cause?: Error } = {}) {
    super(e, cause === undefined ? {} : { cause });
    this.name = 'KafkaJSNumberOfRetriesExceeded';
    this.retryCount = retryCount;
    this.retryTime = retryTime;
  }
}

/** DeleteGroups with some groups not deleted: `groups` says which, and why. */
export class KafkaJSDeleteGroupsError extends KafkaJSError {
  readonly groups: Array<{ groupId: string; errorCode: number; error: KafkaJSError }>;

  constructor(e: Error | string, groups: Array<{ groupId: string; errorCode: number; error: KafkaJSError }> = []) {
    super(e, { retriable: false });
    this.name = 'KafkaJSDeleteGroupsError';
    this.groups = groups;
  }
}

/** An unsupported kafkajs feature, said so: `${what} is not supported by Sluice: ${why}`. */
export function unsupported(what: string, why: string): KafkaJSNonRetriableError {
  return new KafkaJSNonRetriableError(`${what} is not supported by Sluice: ${why}`);
}

/** Kafka's protocol code for a Sluice error name (-1 for Sluice's own HTTP ones). */
export function kafkaCodeOf(code: ErrorName): number {
  return KAFKA_CODES[code];
}

/** The kafkajs error for what the native client threw; TypeErrors (bad options) and kafkajs errors pass as they are. */
export function toKafkaJSError(error: unknown): unknown {
  if (!(error instanceof SluiceError)) return error;
  const network = error.details.network;
  if (network === 'timeout') return new KafkaJSRequestTimeoutError(error.message, { cause: error });
  if (typeof network === 'string') return new KafkaJSConnectionError(error.message, { cause: error, code: network });
  const fields = { message: error.message, type: error.code, code: KAFKA_CODES[error.code], retriable: error.retriable };
  if (error.code === 'OFFSET_OUT_OF_RANGE') return new KafkaJSOffsetOutOfRange(fields, { cause: error });
  return new KafkaJSProtocolError(fields, { cause: error });
}

/** Runs `call`, rethrowing what it throws as a kafkajs error. */
export async function kafkajsErrors<T>(call: () => Promise<T> | T): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toKafkaJSError(error);
  }
}
