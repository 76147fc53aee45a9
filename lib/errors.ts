/**
 * One error model for the whole of Sluice: every failure a caller can see carries a
 * Kafka error name, the HTTP status it is rendered with, and whether retrying the same
 * request can succeed. Handlers render these the same way everywhere (lib/http/render.ts);
 * the client rebuilds them from the JSON body, so `retriable` is the only question retry
 * logic ever asks.
 */

/** The table of error names Sluice speaks, after Kafka's protocol error codes. */
export const ERROR_TABLE = {
  UNKNOWN_TOPIC_OR_PARTITION: { status: 404, retriable: false },
  TOPIC_ALREADY_EXISTS: { status: 409, retriable: false },
  INVALID_TOPIC_EXCEPTION: { status: 400, retriable: false },
  INVALID_CONFIG: { status: 400, retriable: false },
  INVALID_PARTITIONS: { status: 400, retriable: false },
  INVALID_REQUEST: { status: 400, retriable: false },
  CORRUPT_MESSAGE: { status: 400, retriable: false },
  INVALID_RECORD: { status: 400, retriable: false },
  INVALID_TIMESTAMP: { status: 400, retriable: false },
  UNSUPPORTED_COMPRESSION_TYPE: { status: 400, retriable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retriable: false },
  METHOD_NOT_ALLOWED: { status: 405, retriable: false },
  NOT_FOUND: { status: 404, retriable: false },
  MESSAGE_TOO_LARGE: { status: 413, retriable: false },
  RECORD_LIST_TOO_LARGE: { status: 413, retriable: false },
  OFFSET_OUT_OF_RANGE: { status: 416, retriable: false },
  INVALID_GROUP_ID: { status: 400, retriable: false },
  GROUP_ID_NOT_FOUND: { status: 404, retriable: false },
  UNKNOWN_MEMBER_ID: { status: 404, retriable: false },
  FENCED_MEMBER_EPOCH: { status: 409, retriable: false },
  STALE_MEMBER_EPOCH: { status: 409, retriable: false },
  NON_EMPTY_GROUP: { status: 409, retriable: false },
  GROUP_SUBSCRIBED_TO_TOPIC: { status: 409, retriable: false },
  GROUP_MAX_SIZE_REACHED: { status: 409, retriable: false },
  UNSUPPORTED_ASSIGNOR: { status: 400, retriable: false },
  OUT_OF_ORDER_SEQUENCE_NUMBER: { status: 409, retriable: false },
  INVALID_PRODUCER_EPOCH: { status: 409, retriable: false },
  UNKNOWN_PRODUCER_ID: { status: 409, retriable: false },
  THROTTLING_QUOTA_EXCEEDED: { status: 429, retriable: true },
  CONCURRENT_TRANSACTIONS: { status: 429, retriable: true },
  KAFKA_STORAGE_ERROR: { status: 503, retriable: true },
  REQUEST_TIMED_OUT: { status: 504, retriable: true },
  UNKNOWN_SERVER_ERROR: { status: 500, retriable: false },
} as const satisfies Record<string, { status: number; retriable: boolean }>;

/** A Kafka-style error name, e.g. `OFFSET_OUT_OF_RANGE`. */
export type ErrorName = keyof typeof ERROR_TABLE;

/** Extra fields an error carries into its JSON rendering (e.g. offset bounds). */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | null | readonly number[]>>;

/** A typed Sluice error: Kafka name, HTTP status and retriability come from ERROR_TABLE. */
export class SluiceError extends Error {
  readonly code: ErrorName;
  readonly status: number;
  readonly retriable: boolean;
  readonly details: ErrorDetails;
  /** Seconds a client should wait before retrying; rendered as `Retry-After`. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorName, message: string, options: { details?: ErrorDetails; retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.status = ERROR_TABLE[code].status;
    this.retriable = ERROR_TABLE[code].retriable;
    this.details = options.details ?? {};
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The JSON body every route renders for this error. */
  toJSON(): { error: ErrorName; message: string; retriable: boolean } & ErrorDetails {
    return { ...this.details, error: this.code, message: this.message, retriable: this.retriable };
  }
}

/** True when `value` is a known Kafka-style error name. */
export function isErrorName(value: unknown): value is ErrorName {
  return typeof value === 'string' && Object.hasOwn(ERROR_TABLE, value);
}

/** Shorthand for the most common rejection: a 400 INVALID_REQUEST. */
export function invalidRequest(message: string, details?: ErrorDetails): SluiceError {
  return new SluiceError('INVALID_REQUEST', message, details === undefined ? {} : { details });
}
