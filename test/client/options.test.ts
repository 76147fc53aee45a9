/**
 * No silent ignoring: every options object of the native client refuses a name it does not
 * know with a TypeError that lists the valid ones, and the kafkajs habits that used to be
 * dropped (numPartitions, run-time autoCommit, subscribe's fromBeginning) now either work or
 * fail loudly. Runs without a server: each check fails before any request.
 */
import { describe, expect, it } from 'vitest';
import { Sluice } from '../../lib/client/index.ts';

const sluice = new Sluice({ url: 'http://127.0.0.1:9' });
const noop = async () => {};

/** Calls that take an options object, each given one unknown name. */
const CASES: Array<[what: string, call: () => unknown, validExample: string]> = [
  ['new Sluice()', () => new Sluice({ url: 'http://x', brokers: ['x'] } as never), 'url'],
  ['new Sluice({ retry })', () => new Sluice({ url: 'http://x', retry: { retry: 3 } as never }), 'retries'],
  ['new Sluice({ auth })', () => new Sluice({ url: 'http://x', auth: { type: 'iam', regin: 'eu-west-1' } as never }), 'region'],
  ['sluice.producer()', () => sluice.producer({ linger: 5 } as never), 'lingerMs'],
  ['sluice.consumer()', () => sluice.consumer({ maxWaitTimeInMs: 100 } as never), 'maxWaitMs'],
  ['sluice.consumer({ groupId })', () => sluice.consumer({ groupId: 'g', sessionTimeout: 10_000 } as never), 'sessionTimeoutMs'],
  ['sluice.admin()', () => sluice.admin({ retries: 2 } as never), 'retry'],
  ['admin.createTopic()', () => sluice.admin().createTopic({ topic: 't', numPartitions: 3 } as never), 'partitions'],
  ['admin.alterTopic()', () => sluice.admin().alterTopic('t', { count: 3 } as never), 'configs'],
  ['admin.deleteTopicRecords()', () => sluice.admin().deleteTopicRecords({ topic: 't', partitions: [], all: true } as never), 'partitions'],
  ['admin.fetchOffsets()', () => sluice.admin().fetchOffsets('g', { topic: 't' } as never), 'topics'],
  ['consumer.subscribe()', () => sluice.consumer({ groupId: 'g' }).subscribe({ topics: ['t'], fromStart: true } as never), 'fromBeginning'],
  ['consumer.assign()', () => sluice.consumer().assign([{ topic: 't', partition: 0 } as never]), 'partitions'],
  ['consumer.run()', () => sluice.consumer().run({ eachMessage: noop, autoCommit: false } as never), 'eachBatch'],
  ['consumer.run()', () => sluice.consumer({ groupId: 'g' }).run({ eachMessage: noop, autoCommit: false } as never), 'onPartitionsAssigned'],
  ['consumer.seek()', () => sluice.consumer().seek({ topic: 't', partition: 0, offset: 0, force: true } as never), 'offset'],
  ['producer.send()', () => sluice.producer().send({ topic: 't', messages: [], compression: 1 } as never), 'acks'],
  ['producer.sendBatch()', () => sluice.producer().sendBatch({ topicMessages: [], timeout: 5 } as never), 'topicMessages'],
  ['messages[1]', () => sluice.producer().send({ topic: 't', messages: [{ value: 'a' }, { value: 'b', header: { a: '1' } }] as never }), 'headers'],
];

describe('native client options', () => {
  it.each(CASES)('%s refuses an unknown option with a TypeError listing the valid ones', async (what, call, validExample) => {
    // Act
    let error: unknown;
    try {
      await call();
    } catch (e) {
      error = e;
    }

    // Assess
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(new RegExp(`^${what.replace(/[()[\]{}.]/g, '\\$&')}: unknown option "[a-zA-Z]+".*; valid options are .*\\b${validExample}\\b`));
  });

  it('createTopic({ numPartitions }) says the native name is partitions instead of making 1 partition', async () => {
    await expect(sluice.admin().createTopic({ topic: 't', numPartitions: 3 } as never)).rejects.toThrow(/"numPartitions" \(the native name is partitions\)/);
  });

  it('run({ autoCommit: false }) says autoCommit is a consumer option instead of committing anyway', async () => {
    await expect(sluice.consumer({ groupId: 'g' }).run({ eachMessage: noop, autoCommit: false } as never)).rejects.toThrow(/"autoCommit" \(an option of sluice\.consumer\(\{ groupId, autoCommit \}\)\)/);
  });

  it('accepts every documented option', () => {
    expect(() =>
      sluice.producer({ lingerMs: 1, batchBytes: 1024, compression: 'gzip', maxInFlightRequests: 1, bufferMemoryBytes: 1 << 20, maxRequestBytes: 1 << 20, metadataMaxAgeMs: 1, idempotent: false, retries: 1, retryBackoffMs: 1, retryBackoffMaxMs: 2, requestTimeoutMs: 1 }),
    ).not.toThrow();
    expect(() => sluice.consumer({ groupId: 'g', sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, assignor: 'range', autoCommit: false, autoCommitIntervalMs: 1, autoOffsetReset: 'earliest', maxWaitMs: 1, maxBytesPerPartition: 1, partitionsConsumedConcurrently: 2 })).not.toThrow();
    expect(() => sluice.consumer({ groupId: 'g' }).subscribe({ topics: ['a'], topic: 'b', fromBeginning: true })).not.toThrow();
    expect(() => sluice.consumer().assign([{ topic: 'a', partitions: [0], fromBeginning: true, fromTimestamp: 1 }])).not.toThrow();
  });
});
