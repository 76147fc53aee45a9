/**
 * kafkajs's entry point over the Sluice client: `new Kafka({ clientId, brokers: [url] })`, where
 * `brokers[0]` is the Sluice API's URL. Configuration maps onto the native options once, here;
 * what has no meaning over HTTP or no Sluice counterpart is refused, never dropped.
 */
import { Sluice, type AuthOptions, type RetryOptions as NativeRetryOptions } from '../client/index.ts';
import { checkOptionKeys } from '../client/option-keys.ts';
import { Admin, type AdminConfig } from './admin.ts';
import { createLogger, logLevel, type logCreator, type Logger } from './constants.ts';
import { Consumer, type ConsumerConfig } from './consumer.ts';
import { unsupported } from './errors.ts';
import { Producer, type ProducerConfig } from './producer.ts';

/** kafkajs's retry settings; backoff doubles from initialRetryTime with full jitter, capped at maxRetryTime. */
export interface RetryOptions {
  retries?: number;
  initialRetryTime?: number;
  maxRetryTime?: number;
}

/** SASL mechanism `aws` selects SigV4 signing (an IAM-authorized deployment); its keys, if given, are the credentials. */
export interface SASLOptions {
  mechanism: 'aws';
  authorizationIdentity?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
}

export interface KafkaConfig {
  /** `[url]`: the Sluice API's base URL, e.g. `http://127.0.0.1:4100`. */
  brokers: string[];
  clientId?: string;
  /** true or absent; TLS is what an `https` URL uses. */
  ssl?: boolean;
  sasl?: SASLOptions;
  /** ms for one request (kafkajs's requestTimeout); maps to requestTimeoutMs. */
  requestTimeout?: number;
  /** ms to connect; Sluice has no separate connection step, so it bounds the whole request when smaller than requestTimeout. */
  connectionTimeout?: number;
  retry?: RetryOptions;
  logLevel?: logLevel;
  logCreator?: logCreator;
}

const KAFKA_KEYS = { brokers: true, clientId: true, ssl: true, sasl: true, requestTimeout: true, connectionTimeout: true, retry: true, logLevel: true, logCreator: true } as const;
const RETRY_KEYS = { retries: true, initialRetryTime: true, maxRetryTime: true } as const;
const SASL_KEYS = { mechanism: true, authorizationIdentity: true, accessKeyId: true, secretAccessKey: true, sessionToken: true } as const;

/** kafkajs retry settings as native ones. */
export function nativeRetry(retry: RetryOptions | undefined, requestTimeoutMs?: number): NativeRetryOptions {
  checkOptionKeys('retry', retry, RETRY_KEYS);
  const out: NativeRetryOptions = {};
  if (retry?.retries !== undefined) out.retries = retry.retries;
  if (retry?.initialRetryTime !== undefined) out.retryBackoffMs = retry.initialRetryTime;
  if (retry?.maxRetryTime !== undefined) out.retryBackoffMaxMs = retry.maxRetryTime;
  if (requestTimeoutMs !== undefined) out.requestTimeoutMs = requestTimeoutMs;
  return out;
}

function authOf(config: KafkaConfig, url: URL): AuthOptions {
  if (config.ssl !== undefined && typeof config.ssl !== 'boolean') throw unsupported('ssl with TLS options', 'TLS is what an https URL uses; trust extra CAs with NODE_EXTRA_CA_CERTS');
  if (config.ssl === true && url.protocol !== 'https:') throw unsupported('ssl: true with an http URL', `give an https URL instead of ${url.href}`);
  if (config.sasl === undefined) return { type: 'none' };
  checkOptionKeys('sasl', config.sasl, SASL_KEYS);
  if (config.sasl.mechanism !== 'aws') throw unsupported(`sasl mechanism ${JSON.stringify(config.sasl.mechanism)}`, "use mechanism 'aws', which signs requests with SigV4 for an IAM-authorized deployment");
  const { accessKeyId, secretAccessKey, sessionToken } = config.sasl;
  if (accessKeyId === undefined || secretAccessKey === undefined) return { type: 'iam' };
  return { type: 'iam', credentials: { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) } };
}

export class Kafka {
  private readonly sluice: Sluice;
  private readonly rootLogger: Logger;

  constructor(config: KafkaConfig) {
    checkOptionKeys('new Kafka()', config, KAFKA_KEYS);
    if (!Array.isArray(config.brokers) || typeof config.brokers[0] !== 'string') throw unsupported('brokers other than an array of URLs', 'give [url], the Sluice API base URL');
    const url = URL.canParse(config.brokers[0]) ? new URL(config.brokers[0]) : undefined;
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw unsupported(`broker ${JSON.stringify(config.brokers[0])}`, 'brokers[0] must be the Sluice API URL, e.g. http://127.0.0.1:4100 (Kafka host:port addresses do not apply)');
    }
    const timeouts = [config.requestTimeout, config.connectionTimeout].filter((t): t is number => t !== undefined);
    this.sluice = new Sluice({ url: url.href, auth: authOf(config, url), retry: nativeRetry(config.retry, timeouts.length === 0 ? undefined : Math.min(...timeouts)) });
    this.rootLogger = createLogger(config.logLevel ?? logLevel.INFO, config.logCreator);
  }

  producer(config?: ProducerConfig): Producer {
    return new Producer(this.sluice, config ?? {}, this.rootLogger.namespace('Producer'));
  }

  consumer(config: ConsumerConfig): Consumer {
    return new Consumer(this.sluice, config, this.rootLogger.namespace('Consumer'));
  }

  admin(config?: AdminConfig): Admin {
    return new Admin(this.sluice, config ?? {}, this.rootLogger.namespace('Admin'));
  }

  logger(): Logger {
    return this.rootLogger;
  }
}
