/**
 * The entry point, shaped like kafkajs's `Kafka`: one object per API endpoint that makes
 * producers, consumers and admin clients sharing its transport (URL, auth, fetch).
 *
 *   const sluice = new Sluice({ url: 'http://127.0.0.1:4100' });
 *   const producer = sluice.producer();
 *   await producer.send({ topic: 'payments', messages: [{ key: 'user-42', value: 'deposit(100)' }] });
 */
import { Admin } from './admin.ts';
import { Consumer } from './consumer.ts';
import { GroupConsumer } from './group-consumer.ts';
import { Transport } from './http.ts';
import {
  checkRetryKeys,
  resolveConsumerOptions,
  resolveGroupConsumerOptions,
  resolveProducerOptions,
  resolveRetryOptions,
  type ConsumerOptions,
  type GroupConsumerOptions,
  type ProducerOptions,
  type RetryOptions,
  type SluiceOptions,
} from './options.ts';
import { Producer } from './producer.ts';
import { ADMIN_KEYS, checkOptionKeys, IAM_AUTH_KEYS, NO_AUTH_KEYS, SLUICE_KEYS } from './option-keys.ts';

function checkAuthKeys(auth: SluiceOptions['auth']): void {
  if (auth === undefined) return;
  checkOptionKeys('new Sluice({ auth })', auth, auth.type === 'iam' ? IAM_AUTH_KEYS : NO_AUTH_KEYS);
}

export class Sluice {
  private readonly transport: Transport;
  private readonly options: SluiceOptions;

  constructor(options: SluiceOptions) {
    checkOptionKeys('new Sluice()', options, SLUICE_KEYS);
    checkAuthKeys(options.auth);
    checkRetryKeys('new Sluice({ retry })', options.retry);
    this.options = options;
    this.transport = new Transport({ url: options.url, auth: options.auth, fetch: options.fetch });
    // Fail now, not at the first producer, on bad shared retry options.
    resolveRetryOptions(options.retry);
  }

  producer(options?: ProducerOptions): Producer {
    const resolved = resolveProducerOptions(options, this.options.retry);
    const admin = new Admin(this.transport, resolved);
    return new Producer(this.transport, (topic) => admin.describeTopic(topic, { rates: false }), resolved);
  }

  /** With a `groupId`, a member of that consumer group (`subscribe`); without, a consumer in assign mode (`assign`). */
  consumer(options: GroupConsumerOptions): GroupConsumer;
  consumer(options?: ConsumerOptions): Consumer;
  consumer(options?: ConsumerOptions | GroupConsumerOptions): Consumer | GroupConsumer {
    if (options !== undefined && 'groupId' in options && options.groupId !== undefined) {
      const resolved = resolveGroupConsumerOptions(options, this.options.retry);
      return new GroupConsumer(this.transport, new Admin(this.transport, resolved), resolved);
    }
    const resolved = resolveConsumerOptions(options, this.options.retry);
    return new Consumer(this.transport, new Admin(this.transport, resolved), resolved);
  }

  admin(options?: { retry?: RetryOptions }): Admin {
    checkOptionKeys('sluice.admin()', options, ADMIN_KEYS);
    checkRetryKeys('sluice.admin({ retry })', options?.retry);
    return new Admin(this.transport, resolveRetryOptions(this.options.retry, options?.retry));
  }
}
