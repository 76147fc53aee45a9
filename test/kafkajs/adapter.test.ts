/**
 * sluice/kafkajs beyond the happy path: errors arrive as kafkajs's classes with Kafka's names
 * and codes, options it cannot honour are refused, and a send to a missing topic creates it
 * (kafkajs's allowAutoTopicCreation default) or fails as kafkajs's would.
 */
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { ERROR_TABLE, SluiceError, type ErrorName } from '../../lib/errors.ts';
import { toKafkaJSError } from '../../lib/kafkajs/errors.ts';
import { Kafka, KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSOffsetOutOfRange, KafkaJSProtocolError, Partitioners } from '../../lib/kafkajs/index.ts';
import { startTestStack } from '../support/stack.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('kafkajs errors', () => {
  it.each(Object.keys(ERROR_TABLE) as ErrorName[])('maps %s onto a KafkaJSProtocolError with the same type and retriability', (name) => {
    const mapped = toKafkaJSError(new SluiceError(name, 'm')) as KafkaJSProtocolError;
    expect(mapped).toBeInstanceOf(KafkaJSProtocolError);
    expect(mapped).toMatchObject({ type: name, retriable: ERROR_TABLE[name].retriable, message: 'm' });
    expect(Number.isInteger(mapped.code)).toBe(true);
    if (name === 'OFFSET_OUT_OF_RANGE') expect(mapped).toBeInstanceOf(KafkaJSOffsetOutOfRange);
  });

  it('rejects connect() on a refused URL with a KafkaJSConnectionError that says to check npm start', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const admin = new Kafka({ brokers: [`http://127.0.0.1:${port}`], retry: { retries: 0 } }).admin();
    await expect(admin.connect()).rejects.toSatisfy((e: unknown) => e instanceof KafkaJSConnectionError && /npm start/.test(e.message));
  });

  it('fails a send to a missing topic with UNKNOWN_TOPIC_OR_PARTITION when allowAutoTopicCreation is false, and creates it otherwise', async () => {
    const kafka = new Kafka({ brokers: [stack.url] });
    const strict = kafka.producer({ allowAutoTopicCreation: false });
    await expect(strict.send({ topic: 'kjs-missing', messages: [{ value: 'x' }] })).rejects.toMatchObject({ name: 'KafkaJSProtocolError', type: 'UNKNOWN_TOPIC_OR_PARTITION', code: 3 });
    const lenient = kafka.producer();
    await expect(lenient.send({ topic: 'kjs-missing', messages: [{ value: 'x' }] })).resolves.toEqual([{ topicName: 'kjs-missing', partition: 0, errorCode: 0, offset: '0', baseOffset: '0' }]);
    await Promise.all([strict.disconnect(), lenient.disconnect()]);
  });

  it('uses a custom partitioner for messages without a partition', async () => {
    const kafka = new Kafka({ brokers: [stack.url] });
    await kafka.admin().createTopics({ topics: [{ topic: 'kjs-custom', numPartitions: 3 }] });
    const producer = kafka.producer({ createPartitioner: () => ({ partitionMetadata }) => partitionMetadata.length - 1 });
    await expect(producer.send({ topic: 'kjs-custom', messages: [{ key: 'a', value: 'x' }] })).resolves.toMatchObject([{ partition: 2 }]);
    await producer.disconnect();
  });
});

describe('kafkajs options Sluice cannot honour', () => {
  it.each([
    ['a Kafka host:port broker', () => new Kafka({ brokers: ['localhost:9092'] }), /brokers\[0\] must be the Sluice API URL/],
    ['SASL PLAIN', () => new Kafka({ brokers: ['http://x'], sasl: { mechanism: 'plain' } as never }), /sasl mechanism "plain" is not supported by Sluice/],
    ['LegacyPartitioner', () => new Kafka({ brokers: ['http://x'] }).producer({ createPartitioner: Partitioners.LegacyPartitioner }), /LegacyPartitioner is not supported/],
    ['an unknown consumer event', () => new Kafka({ brokers: ['http://x'] }).consumer({ groupId: 'g' }).on('consumer.heartbeat', () => {}), /consumer event "consumer.heartbeat" is not supported/],
  ])('refuses %s with a KafkaJSNonRetriableError saying so', async (_what, call, message) => {
    const error = await (async () => call())().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KafkaJSNonRetriableError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses an unknown option name with a TypeError listing the valid ones', () => {
    expect(() => new Kafka({ brokers: ['http://x'], clientID: 'typo' } as never)).toThrow(new TypeError('new Kafka(): unknown option "clientID"; valid options are brokers, clientId, ssl, sasl, requestTimeout, connectionTimeout, retry, logLevel, logCreator'));
    expect(() => new Kafka({ brokers: ['http://x'] }).consumer({ groupId: 'g', minBytes: 10 } as never)).toThrow(/unknown option "minBytes" \(a Sluice fetch answers as soon as any record is there/);
  });
});
