/**
 * consumer.run({ eachMessage, retry }): non-blocking retries. A record whose handler throws is
 * forwarded — with the idempotent producer, and acknowledged — to `<topic>.retry.1`, and only
 * then does the handler return, so its source offset is committed after the forward, never
 * before: the partition moves on. The same group consumes the retry topics; a record there
 * is handed to the handler once its due time has come (before that its partition is paused,
 * retry-hold.ts), and fails on to `.retry.2`, …, then to the dead-letter topic. An error for
 * which `isRetriable` says false goes straight to the dead-letter topic.
 *
 *   source ──fail──▶ .retry.1 ──(delaysMs[0])──fail──▶ .retry.2 ──(delaysMs[1])──fail──▶ .dlq
 *
 * A crash after a forward and before the commit hands the record out again, and it is
 * forwarded again: a duplicate with the same origin and attempt headers, never a loss.
 */
import type { CloseOptions } from './close.ts';
import type { RunConfig } from './consumer.ts';
import type { Producer } from './producer.ts';
import { RecordNotDue } from './retry-hold.ts';
import { dueAtOf, forwardHeaders, originOf } from './retry-headers.ts';
import { checkRetryPolicy, retryTopicName, RetryTopics, type RetryPolicy, type TopicRole } from './retry-topics.ts';
import type { Admin } from './admin.ts';
import type { EachMessagePayload } from './types.ts';
import { SluiceError } from '../errors.ts';

type EachMessage = (payload: EachMessagePayload) => Promise<void> | void;

export class RetryRouter {
  private constructor(
    private readonly topics: RetryTopics,
    private readonly policy: RetryPolicy,
    private readonly producer: Producer,
  ) {}

  /** Checks the policy and creates the retry topics of the subscribed topics that exist. `producer` must be idempotent; the router closes it. */
  static async start(policy: RetryPolicy, config: RunConfig, sources: readonly string[], admin: Admin, producer: () => Producer): Promise<RetryRouter> {
    checkRetryPolicy(policy);
    if (config.eachMessage === undefined) throw new SluiceError('INVALID_REQUEST', 'run({ retry }) takes eachMessage: a batch handler has no single record to retry');
    const topics = new RetryTopics(admin, sources, policy);
    await topics.createRetryTopics();
    return new RetryRouter(topics, policy, producer());
  }

  /** The retry topics to subscribe to, besides the sources. */
  retryTopics(): string[] {
    return this.topics.retryTopics();
  }

  /** The handlers with retries: what the consumer runs instead of `config`. */
  wrap(config: RunConfig): RunConfig {
    const eachMessage = config.eachMessage as EachMessage;
    return { eachMessage: (payload) => this.handle(eachMessage, payload) };
  }

  /** Sends what is still buffered and closes the producer. */
  async close(options: CloseOptions = {}): Promise<void> {
    await this.producer.disconnect(options);
  }

  private async handle(eachMessage: EachMessage, payload: EachMessagePayload): Promise<void> {
    const role = this.topics.roleOf(payload.topic);
    if (role === undefined) return eachMessage(payload);
    if (role.attempt > 0) {
      const dueAtMs = dueAtOf(payload.message);
      if (dueAtMs !== undefined && dueAtMs > Date.now()) throw new RecordNotDue(dueAtMs);
    }
    try {
      await eachMessage(payload);
    } catch (error) {
      await this.forward(payload, role, error);
    }
  }

  /** Sends a failed record on: the next retry topic, or the dead-letter topic. Resolves once it is acknowledged. */
  private async forward({ topic, partition, message }: EachMessagePayload, { source, attempt: failedBefore }: TopicRole, error: unknown): Promise<void> {
    const origin = originOf(topic, partition, message);
    // The topic counts attempts, not the header: a record replayed from the dead-letter topic into its source starts again at 1.
    const attempt = failedBefore + 1;
    const retriable = this.policy.isRetriable?.(error) ?? true;
    const { delaysMs } = this.policy;
    const retry = retriable && attempt <= delaysMs.length;
    const target = retry ? retryTopicName(source, attempt) : this.topics.deadLetterTopic(source);
    const next = retry ? { dueAtMs: Date.now() + (delaysMs[attempt - 1] as number) } : { deadLetterReason: retriable ? ('exhausted' as const) : ('not-retriable' as const) };
    const partitions = await this.topics.ensure(target, source);
    await this.producer.send({
      topic: target,
      messages: [{ key: message.key, value: message.value, partition: origin.partition % partitions, headers: forwardHeaders(message.headers, origin, attempt, error, next) }],
    });
  }
}
