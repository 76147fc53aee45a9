/**
 * sluice/kafkajs moves a group's offsets as kafkajs does: with `eachBatchAutoResolve: false`
 * only what the handler passed to resolveOffset counts as consumed (the rest is delivered again
 * and never committed), and `admin.setOffsets` sets each partition's offset on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { Sluice } from '../../lib/client/index.ts';
import { Kafka, KafkaJSNonRetriableError, logLevel } from '../../lib/kafkajs/index.ts';
import { startTestStack } from '../support/stack.ts';
import { createTopic } from '../client/helpers.ts';

let stack: LocalStack;
let kafka: Kafka;
beforeAll(async () => {
  stack = await startTestStack();
  kafka = new Kafka({ brokers: [stack.url], logLevel: logLevel.NOTHING });
});
afterAll(async () => {
  await stack?.close();
});

/** One send of `count` values, so the records arrive as one batch, offsets 0..count-1 of partition 0. */
async function produce(topic: string, count: number, partition = 0): Promise<void> {
  const producer = kafka.producer();
  await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ value: `v${i}`, partition })) });
  await producer.disconnect();
}

async function committed(groupId: string, topic: string): Promise<Record<number, string>> {
  const [found] = await kafka.admin().fetchOffsets({ groupId, topics: [topic] });
  return Object.fromEntries((found?.partitions ?? []).map((p) => [p.partition, p.offset]));
}

describe('kafkajs consumer.run({ eachBatchAutoResolve: false })', () => {
  it('delivers again the records after the last resolveOffset of a batch, then commits past the ones resolved later', async () => {
    // Prepare
    await createTopic(stack.url, 'kjs-resolve-again', 1);
    await produce('kjs-resolve-again', 10);
    const consumer = kafka.consumer({ groupId: 'kjs-resolve-again', maxWaitTimeInMs: 100 });
    await consumer.subscribe({ topics: ['kjs-resolve-again'], fromBeginning: true });
    const firstOffsets: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));

    // Act: the first delivery resolves offsets 0..3 only; the next one resolves everything it gets.
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        firstOffsets.push(batch.messages[0]?.offset ?? '');
        const resolvable = firstOffsets.length === 1 ? batch.messages.slice(0, 4) : batch.messages;
        for (const message of resolvable) resolveOffset(message.offset);
        if (batch.messages.at(-1)?.offset === '9' && firstOffsets.length > 1) done();
      },
    });
    await finished;
    await consumer.disconnect();

    // Assess
    expect(firstOffsets.slice(0, 2)).toEqual(['0', '4']);
    expect(await committed('kjs-resolve-again', 'kjs-resolve-again')).toEqual({ 0: '10' });
  });

  it('commits only what was resolved when the consumer stops after a batch resolved in part (autoCommit on)', async () => {
    // Prepare
    await createTopic(stack.url, 'kjs-resolve-part', 1);
    await produce('kjs-resolve-part', 10);
    const consumer = kafka.consumer({ groupId: 'kjs-resolve-part', maxWaitTimeInMs: 100 });
    await consumer.subscribe({ topics: ['kjs-resolve-part'], fromBeginning: true });
    let deliveries = 0;
    let handled!: () => void;
    const firstHandled = new Promise<void>((resolve) => (handled = resolve));

    // Act: only the first delivery resolves anything (offsets 0..2); every delivery returns normally.
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        if (++deliveries === 1) for (const message of batch.messages.slice(0, 3)) resolveOffset(message.offset);
        handled();
      },
    });
    await firstHandled;
    await consumer.disconnect();

    // Assess: with auto-resolve the whole batch would have been committed (offset 10).
    expect(await committed('kjs-resolve-part', 'kjs-resolve-part')).toEqual({ 0: '3' });
  });
});

describe('kafkajs admin.setOffsets', () => {
  it('sets each given partition on its own (a number, -2 for the log start, -1 for the log end) and leaves the others', async () => {
    // Prepare: partition 2 starts at offset 2, after a deleteTopicRecords.
    await createTopic(stack.url, 'kjs-set-offsets', 3);
    for (const partition of [0, 1, 2]) await produce('kjs-set-offsets', 5, partition);
    const admin = kafka.admin();
    await admin.deleteTopicRecords({ topic: 'kjs-set-offsets', partitions: [{ partition: 2, offset: '2' }] });

    // Act
    await admin.setOffsets({ groupId: 'kjs-set-offsets', topic: 'kjs-set-offsets', partitions: [{ partition: 0, offset: '3' }, { partition: 2, offset: '-2' }] });
    const first = await committed('kjs-set-offsets', 'kjs-set-offsets');
    await admin.setOffsets({ groupId: 'kjs-set-offsets', topic: 'kjs-set-offsets', partitions: [{ partition: 1, offset: '-1' }] });

    // Assess
    expect(first).toEqual({ 0: '3', 1: '-1', 2: '2' });
    expect(await committed('kjs-set-offsets', 'kjs-set-offsets')).toEqual({ 0: '3', 1: '5', 2: '2' });
  });

  it('is where a consumer of the group starts', async () => {
    // Prepare
    await createTopic(stack.url, 'kjs-set-start', 2);
    for (const partition of [0, 1]) await produce('kjs-set-start', 4, partition);
    await kafka.admin().setOffsets({ groupId: 'kjs-set-start', topic: 'kjs-set-start', partitions: [{ partition: 0, offset: '3' }, { partition: 1, offset: '1' }] });
    const consumer = kafka.consumer({ groupId: 'kjs-set-start', maxWaitTimeInMs: 100 });
    await consumer.subscribe({ topics: ['kjs-set-start'], fromBeginning: true });
    const seen: string[] = [];
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));

    // Act
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push(`${partition}:${message.offset}`);
        if (seen.length === 4) done();
      },
    });
    await all;
    await consumer.disconnect();

    // Assess
    expect(seen.sort()).toEqual(['0:3', '1:1', '1:2', '1:3']);
  });

  it('refuses while the group has a running member, as kafkajs does, and changes nothing', async () => {
    // Prepare
    await createTopic(stack.url, 'kjs-set-busy', 1);
    await produce('kjs-set-busy', 3);
    const member = new Sluice({ url: stack.url }).consumer({ groupId: 'kjs-set-busy', autoOffsetReset: 'earliest', maxWaitMs: 100 });
    member.subscribe({ topics: ['kjs-set-busy'] });
    let consumed!: () => void;
    const read = new Promise<void>((resolve) => (consumed = resolve));
    await member.run({ eachMessage: ({ message }) => void (message.offset === 2 && consumed()) });
    await read;
    await member.commitProcessed();

    // Act
    const error = await kafka
      .admin()
      .setOffsets({ groupId: 'kjs-set-busy', topic: 'kjs-set-busy', partitions: [{ partition: 0, offset: '0' }] })
      .catch((e: unknown) => e);
    await member.disconnect();

    // Assess
    expect(error).toBeInstanceOf(KafkaJSNonRetriableError);
    expect((error as Error).message).toMatch(/must have no running instances/);
    expect(await committed('kjs-set-busy', 'kjs-set-busy')).toEqual({ 0: '3' });
  });

  it.each([
    ['an offset that is not an integer', [{ partition: 0, offset: 'soon' }], /Invalid offset "soon" for partition 0/],
    ['no partitions', [], /Invalid partitions/],
  ])('refuses %s with a KafkaJSNonRetriableError', async (_what, partitions, message) => {
    const error = await kafka.admin().setOffsets({ groupId: 'g', topic: 'kjs-set-offsets', partitions }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KafkaJSNonRetriableError);
    expect((error as Error).message).toMatch(message);
  });
});
