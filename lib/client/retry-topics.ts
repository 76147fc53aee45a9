/**
 * The topics of consumer.run({ retry }): `<topic>.retry.<n>` holds records whose n-th attempt
 * failed, until their delay has passed; `<topic>.dlq` (or `deadLetterTopic`) those that
 * failed for good. Each is created on first use with the source topic's partition count, so
 * a record keeps its partition number along the way (and a key its partition).
 */
import { SluiceError } from '../errors.ts';
import type { Admin } from './admin.ts';
import { checkOptionKeys, type OptionKeys } from './option-keys.ts';

/** consumer.run({ retry }): non-blocking retries through delay topics, then a dead-letter topic. */
export interface RetryPolicy {
  /** The wait before each retry: a record whose n-th attempt failed waits `delaysMs[n-1]` in `<topic>.retry.<n>`; after the last, the dead-letter topic. `[]` sends a failure straight there. */
  delaysMs: readonly number[];
  /** @default - `<topic>.dlq` for each subscribed topic */
  deadLetterTopic?: string;
  /** False sends the record straight to the dead-letter topic. @default - every error is retried */
  isRetriable?: (error: unknown) => boolean;
}

export const RETRY_POLICY_KEYS = { delaysMs: true, deadLetterTopic: true, isRetriable: true } as const satisfies OptionKeys<RetryPolicy>;

/** Retry topics are named after the source; Kafka's topic names end at 249 characters. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export const retryTopicName = (topic: string, attempt: number): string => `${topic}.retry.${attempt}`;
export const defaultDeadLetterTopic = (topic: string): string => `${topic}.dlq`;

/** Checks a retry policy once, at run(); quotes the bad value. */
export function checkRetryPolicy(policy: RetryPolicy): void {
  checkOptionKeys('consumer.run({ retry })', policy, RETRY_POLICY_KEYS);
  const { delaysMs, deadLetterTopic, isRetriable } = policy;
  if (!Array.isArray(delaysMs) || delaysMs.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new SluiceError('INVALID_CONFIG', `retry.delaysMs must be an array of non-negative integers (ms), got ${JSON.stringify(delaysMs)}`);
  if (deadLetterTopic !== undefined && (typeof deadLetterTopic !== 'string' || !TOPIC_NAME.test(deadLetterTopic))) throw new SluiceError('INVALID_CONFIG', `retry.deadLetterTopic must be a topic name, got ${JSON.stringify(deadLetterTopic)}`);
  if (isRetriable !== undefined && typeof isRetriable !== 'function') throw new SluiceError('INVALID_CONFIG', `retry.isRetriable must be a function, got ${typeof isRetriable}`);
}

/** Where a subscribed record goes next: its source and, for a retry topic, how many attempts failed before it arrived. */
export interface TopicRole {
  source: string;
  /** 0 for the source topic itself, n for `<source>.retry.<n>`. */
  attempt: number;
}

/** The names for a set of subscribed source topics. */
export class RetryTopics {
  private readonly roles = new Map<string, TopicRole>();
  /** Partition count of each topic known to exist, once looked up or created. */
  private readonly partitions = new Map<string, Promise<number>>();

  constructor(
    private readonly admin: Admin,
    readonly sources: readonly string[],
    private readonly policy: RetryPolicy,
  ) {
    for (const source of sources) {
      this.roles.set(source, { source, attempt: 0 });
      for (let n = 1; n <= policy.delaysMs.length; n++) this.roles.set(retryTopicName(source, n), { source, attempt: n });
    }
  }

  /** Every retry topic, to subscribe to with the sources. */
  retryTopics(): string[] {
    return [...this.roles].filter(([, role]) => role.attempt > 0).map(([name]) => name);
  }

  /** What a subscribed topic is; undefined for a topic that is neither a source nor one of its retry topics. */
  roleOf(topic: string): TopicRole | undefined {
    return this.roles.get(topic);
  }

  deadLetterTopic(source: string): string {
    return this.policy.deadLetterTopic ?? defaultDeadLetterTopic(source);
  }

  /** Creates the retry topics of every source topic that exists, so the group assigns them from the start. */
  async createRetryTopics(): Promise<void> {
    for (const source of this.sources) {
      const count = await this.partitionCount(source).catch((error: unknown) => {
        if (error instanceof SluiceError && error.code === 'UNKNOWN_TOPIC_OR_PARTITION') return undefined;
        throw error;
      });
      if (count === undefined) continue;
      for (let n = 1; n <= this.policy.delaysMs.length; n++) await this.ensure(retryTopicName(source, n), source);
    }
  }

  /** The partition count of `topic`, creating it with `source`'s partition count if it does not exist. */
  async ensure(topic: string, source: string): Promise<number> {
    let known = this.partitions.get(topic);
    if (known === undefined) {
      known = this.lookUpOrCreate(topic, source);
      this.partitions.set(topic, known);
      // A failed look-up is tried again by the next forward.
      known.catch(() => this.partitions.delete(topic));
    }
    return known;
  }

  private partitionCount(topic: string): Promise<number> {
    return this.admin.describeTopic(topic).then((d) => d.partitions.length);
  }

  private async lookUpOrCreate(topic: string, source: string): Promise<number> {
    try {
      return await this.partitionCount(topic);
    } catch (error) {
      if (!(error instanceof SluiceError && error.code === 'UNKNOWN_TOPIC_OR_PARTITION')) throw error;
    }
    const partitions = await this.partitionCount(source);
    try {
      return (await this.admin.createTopic({ topic, partitions })).partitions.length;
    } catch (error) {
      // Another member created it first.
      if (error instanceof SluiceError && error.code === 'TOPIC_ALREADY_EXISTS') return this.partitionCount(topic);
      throw error;
    }
  }
}
