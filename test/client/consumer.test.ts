import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { SluiceError } from '../../lib/errors.ts';
import { Sluice, type ConsumedMessage, type Consumer, type ConsumerOptions, type TopicAssignment } from '../../lib/client/index.ts';
import { api, startTestStack } from '../support/stack.ts';
import { createTopic } from './helpers.ts';

let stack: LocalStack;
let sluice: Sluice;
beforeAll(async () => {
  stack = await startTestStack();
  sluice = new Sluice({ url: stack.url });
});
afterAll(async () => {
  await stack?.server.close();
});

/** Produces each group of values as its own request, so each becomes its own stored object. */
async function produceSegments(topic: string, groups: string[][], partition = 0, timestamp?: (i: number) => number): Promise<void> {
  const producer = sluice.producer();
  let i = 0;
  for (const values of groups) {
    await producer.send({ topic, messages: values.map((value) => ({ value, partition, ...(timestamp === undefined ? {} : { timestamp: timestamp(i++) }) })) });
  }
  await producer.disconnect();
}

/** Consumes until `count` messages arrived (or `untilMs` passed), then stops. */
async function consume(assignments: TopicAssignment[], count: number, options: ConsumerOptions = {}, prepare?: (c: Consumer) => void, untilMs = 10_000): Promise<{ messages: ConsumedMessage[]; consumer: Consumer }> {
  const consumer = sluice.consumer({ maxWaitMs: 200, ...options });
  consumer.assign(assignments);
  prepare?.(consumer);
  const messages: ConsumedMessage[] = [];
  let enough!: () => void;
  const reached = new Promise<void>((resolve) => (enough = resolve));
  await consumer.run({
    eachMessage: ({ message }) => {
      messages.push(message);
      if (messages.length >= count) enough();
    },
  });
  await Promise.race([reached, consumer.done(), new Promise((resolve) => setTimeout(resolve, untilMs))]);
  await consumer.stop();
  return { messages, consumer };
}

const values = (messages: ConsumedMessage[]) => messages.map((m) => m.value?.toString() ?? null);

describe('Class: Consumer', () => {
  describe('Method: run', () => {
    it('reads in order across segment (object) boundaries', async () => {
      await createTopic(stack.url, 'segments', 1);
      const groups = Array.from({ length: 12 }, (_, g) => Array.from({ length: 5 }, (_, i) => `g${g}-r${i}`));
      await produceSegments('segments', groups);
      expect((await api(stack.url, 'GET', '/v1/topics/segments')).body.partitions[0].segments).toBe(12);

      // A tiny maxBytes makes every fetch return one batch, so the consumer must walk from object to object.
      const { messages } = await consume([{ topic: 'segments', fromBeginning: true }], 60, { maxBytesPerPartition: 1 });
      expect(values(messages)).toEqual(groups.flat());
      expect(messages.map((m) => m.offset)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    });

    it('resumes after a restart from the offset it stopped at, without gaps or repeats', async () => {
      await createTopic(stack.url, 'restart', 1);
      const all = Array.from({ length: 40 }, (_, i) => `m${i}`);
      await produceSegments('restart', [all.slice(0, 10), all.slice(10, 25), all.slice(25)]);

      const first = await consume([{ topic: 'restart', fromBeginning: true }], 17, { partitionsConsumedConcurrently: 1 });
      const stoppedAt = first.consumer.position('restart', 0) as number;
      expect(stoppedAt).toBeGreaterThanOrEqual(17);
      const { messages } = await consume([{ topic: 'restart' }], 40 - stoppedAt, {}, (c) => c.seek({ topic: 'restart', partition: 0, offset: stoppedAt }));
      expect([...values(first.messages).slice(0, stoppedAt), ...values(messages)]).toEqual(all);
    });

    it('skips the records below a sought offset inside the first batch', async () => {
      await createTopic(stack.url, 'mid-batch', 1);
      await produceSegments('mid-batch', [Array.from({ length: 10 }, (_, i) => `v${i}`)]);
      const { messages } = await consume([{ topic: 'mid-batch' }], 4, {}, (c) => c.seek({ topic: 'mid-batch', partition: 0, offset: 6 }));
      expect(messages.map((m) => m.offset)).toEqual([6, 7, 8, 9]);
    });

    it('starts at the latest offset by default and long-polls for new records', async () => {
      await createTopic(stack.url, 'latest', 2);
      await produceSegments('latest', [['old-1', 'old-2']], 1);
      const consumer = sluice.consumer({ maxWaitMs: 5000 });
      consumer.assign([{ topic: 'latest' }]);
      const seen: string[] = [];
      await consumer.run({ eachMessage: ({ message }) => void seen.push(message.value?.toString() ?? '') });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await produceSegments('latest', [['new-1', 'new-2']], 1);
      const deadline = Date.now() + 5000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      const stopping = Date.now();
      await consumer.stop();
      expect(Date.now() - stopping).toBeLessThan(1000);
      expect(seen).toEqual(['new-1', 'new-2']);
    });

    it('starts at the first record at or after fromTimestamp', async () => {
      await createTopic(stack.url, 'by-time', 1);
      await produceSegments('by-time', [['a', 'b', 'c'], ['d', 'e', 'f']], 0, (i) => 1_700_000_000_000 + i * 1000);
      const { messages } = await consume([{ topic: 'by-time', fromTimestamp: 1_700_000_002_500 }], 3);
      expect(values(messages)).toEqual(['d', 'e', 'f']);
      expect(messages[0]?.timestamp).toBe(1_700_000_003_000);
    });

    it('hands whole fetches to eachBatch with the partition bounds', async () => {
      await createTopic(stack.url, 'batches', 1);
      await produceSegments('batches', [['a', 'b'], ['c']]);
      const consumer = sluice.consumer();
      consumer.assign([{ topic: 'batches', fromBeginning: true }]);
      const batches: Array<{ values: string[]; highWatermark: number; nextOffset: number }> = [];
      await consumer.run({ eachBatch: ({ batch }) => void batches.push({ values: values(batch.messages) as string[], highWatermark: batch.highWatermark, nextOffset: batch.nextOffset }) });
      const deadline = Date.now() + 5000;
      while (batches.flatMap((b) => b.values).length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await consumer.stop();
      expect(batches.flatMap((b) => b.values)).toEqual(['a', 'b', 'c']);
      expect(batches.at(-1)).toMatchObject({ highWatermark: 3, nextOffset: 3 });
    });

    it('stops on a handler error and done() rejects with it, the position at the failed record', async () => {
      await createTopic(stack.url, 'failing', 1);
      await produceSegments('failing', [['ok', 'boom', 'never']]);
      const consumer = sluice.consumer();
      consumer.assign([{ topic: 'failing', fromBeginning: true }]);
      const crashes: unknown[] = [];
      consumer.on('crash', ({ error }) => crashes.push(error));
      await consumer.run({
        eachMessage: ({ message }) => {
          if (message.value?.toString() === 'boom') throw new Error('handler failed');
        },
      });
      await expect(consumer.done()).rejects.toThrow('handler failed');
      expect(crashes).toHaveLength(1);
      expect(consumer.position('failing', 0)).toBe(1);
    });

    it('pauses and resumes a partition', async () => {
      await createTopic(stack.url, 'pausing', 2);
      await produceSegments('pausing', [['p0']], 0);
      await produceSegments('pausing', [['p1']], 1);
      const consumer = sluice.consumer({ maxWaitMs: 100 });
      consumer.assign([{ topic: 'pausing', fromBeginning: true }]);
      consumer.pause([{ topic: 'pausing', partitions: [1] }]);
      const seen: string[] = [];
      await consumer.run({ eachMessage: ({ message }) => void seen.push(message.value?.toString() ?? '') });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(seen).toEqual(['p0']);
      expect(consumer.paused()).toEqual([{ topic: 'pausing', partitions: [1] }]);
      consumer.resume([{ topic: 'pausing' }]);
      const deadline = Date.now() + 5000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await consumer.stop();
      expect(seen).toEqual(['p0', 'p1']);
    });
  });

  describe('Method: pause (during a handler)', () => {
    it('never delivers again a record whose eachMessage returned after pause() was called in it', async () => {
      await createTopic(stack.url, 'pause-in-handler', 1);
      await produceSegments('pause-in-handler', [['a', 'b', 'c', 'd']]);
      const consumer = sluice.consumer({ maxWaitMs: 100 });
      consumer.assign([{ topic: 'pause-in-handler', fromBeginning: true }]);
      const seen: number[] = [];
      await consumer.run({
        eachMessage: ({ message }) => {
          seen.push(message.offset);
          if (message.offset === 1) consumer.pause([{ topic: 'pause-in-handler' }]);
        },
      });
      const deadline = Date.now() + 10_000;
      while (!seen.includes(1) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(seen).toEqual([0, 1]);
      consumer.resume([{ topic: 'pause-in-handler' }]);
      while (seen.length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await consumer.stop();
      expect(seen).toEqual([0, 1, 2, 3]);
      expect(consumer.position('pause-in-handler', 0)).toBe(4);
    });

    it('never delivers again the records an eachBatch resolved before pausing', async () => {
      await createTopic(stack.url, 'pause-in-batch', 1);
      await produceSegments('pause-in-batch', [['a', 'b', 'c', 'd', 'e']]);
      const consumer = sluice.consumer({ maxWaitMs: 100 });
      consumer.assign([{ topic: 'pause-in-batch', fromBeginning: true }]);
      const batches: number[][] = [];
      await consumer.run({
        eachBatch: ({ batch, resolveOffset }) => {
          batches.push(batch.messages.map((m) => m.offset));
          if (batches.length > 1) return;
          // The first three are processed; then the handler pauses and stops early.
          for (const offset of [0, 1, 2]) resolveOffset(offset);
          consumer.pause([{ topic: 'pause-in-batch' }]);
        },
      });
      const deadline = Date.now() + 10_000;
      while (batches.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      consumer.resume([{ topic: 'pause-in-batch' }]);
      while (batches.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await consumer.stop();
      expect(batches).toEqual([
        [0, 1, 2, 3, 4],
        [3, 4],
      ]);
    });
  });

  describe('Option: autoOffsetReset', () => {
    beforeAll(async () => {
      await createTopic(stack.url, 'reset', 1);
      await produceSegments('reset', [['r0', 'r1', 'r2']]);
    });

    it("'earliest' moves an out-of-range position to the log start", async () => {
      const { messages } = await consume([{ topic: 'reset' }], 3, { autoOffsetReset: 'earliest' }, (c) => c.seek({ topic: 'reset', partition: 0, offset: 999 }));
      expect(values(messages)).toEqual(['r0', 'r1', 'r2']);
    });

    it("'latest' moves an out-of-range position to the high watermark", async () => {
      const consumer = sluice.consumer({ autoOffsetReset: 'latest', maxWaitMs: 200 });
      consumer.assign([{ topic: 'reset' }]);
      consumer.seek({ topic: 'reset', partition: 0, offset: 999 });
      const seen: string[] = [];
      await consumer.run({ eachMessage: ({ message }) => void seen.push(message.value?.toString() ?? '') });
      const deadline = Date.now() + 5000;
      while (consumer.position('reset', 0) !== 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await consumer.stop();
      expect(consumer.position('reset', 0)).toBe(3);
      expect(seen).toEqual([]);
    });

    it("'none' surfaces OFFSET_OUT_OF_RANGE with the partition's bounds", async () => {
      const consumer = sluice.consumer({ autoOffsetReset: 'none' });
      consumer.assign([{ topic: 'reset' }]);
      consumer.seek({ topic: 'reset', partition: 0, offset: 999 });
      await consumer.run({ eachMessage: () => {} });
      const error = await consumer.done().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SluiceError);
      expect(error).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', details: { logStartOffset: 0, highWatermark: 3 } });
    });

    it("'none' refuses to start a partition that has no position", async () => {
      const consumer = sluice.consumer({ autoOffsetReset: 'none' });
      consumer.assign([{ topic: 'reset' }]);
      await expect(consumer.run({ eachMessage: () => {} })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
    });
  });

  describe('Class: Admin', () => {
    it('creates, lists, describes, alters and deletes a topic', async () => {
      const admin = sluice.admin();
      const created = await admin.createTopic({ topic: 'managed', partitions: 2, configs: { 'retention.ms': 60_000 } });
      expect(created).toMatchObject({ name: 'managed', configs: { 'retention.ms': '60000' } });
      expect(await admin.listTopics()).toContainEqual({ name: 'managed', partitions: 2 });
      expect((await admin.alterTopic('managed', { partitions: 3 })).partitions).toHaveLength(3);
      expect((await admin.describeTopic('managed')).partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
      await expect(admin.createTopic({ topic: 'managed' })).rejects.toMatchObject({ code: 'TOPIC_ALREADY_EXISTS', status: 409, retriable: false });
      await admin.deleteTopic('managed');
      await expect(admin.describeTopic('managed')).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    });

    it('looks offsets up by timestamp and at both ends of the log', async () => {
      await createTopic(stack.url, 'lookup', 1);
      await produceSegments('lookup', [['a', 'b', 'c']], 0, (i) => 1000 + i * 10);
      const admin = sluice.admin();
      expect(await admin.listOffsets('lookup', 0, 1015)).toEqual({ offset: 2, timestamp: 1020, logStartOffset: 0, highWatermark: 3 });
      expect(await admin.listOffsets('lookup', 0, 5000)).toMatchObject({ offset: 3, timestamp: null });
      expect((await admin.listOffsets('lookup', 0, 'earliest')).offset).toBe(0);
      expect(await admin.fetchTopicOffsets('lookup')).toEqual([{ partition: 0, offset: 3, high: 3, low: 0 }]);
      expect(await admin.fetchTopicOffsetsByTimestamp('lookup', 1005)).toEqual([{ partition: 0, offset: 1 }]);
    });
  });
});
