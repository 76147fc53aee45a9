/**
 * A local stack for tests that drive compaction themselves: produce's compaction trigger is
 * switched off for the file (it would race the test's own passes), and the few API calls
 * every such test makes are at hand.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { partitionPk } from '../../lib/storage/schema.ts';
import { api, startTestStack } from './stack.ts';

export interface CompactionFixture {
  /** The stack; set once the file's beforeAll has run. */
  readonly stack: LocalStack;
  createTopic(name: string, configs?: Record<string, string | number>, partitions?: number): Promise<void>;
  /** Appends one record with a JSON produce. */
  produce(topic: string, value: string, partition?: number, timestamp?: number): Promise<void>;
  /** Every value of a partition from `from` to its high watermark. */
  values(topic: string, from: number, partition?: number): Promise<string[]>;
  /** The partition key of a topic's partition (its live incarnation). */
  pkOf(topic: string, partition?: number): Promise<string>;
  /** Whether the bucket holds `key`. */
  exists(key: string): Promise<boolean>;
}

/** Registers the file's beforeAll / afterAll and returns the fixture. */
export function compactionFixture(): CompactionFixture {
  let stack: LocalStack | undefined;
  const savedTrigger = process.env.SLUICE_COMPACT_FUNCTION;
  beforeAll(async () => {
    stack = await startTestStack();
    process.env.SLUICE_COMPACT_FUNCTION = '';
  });
  afterAll(async () => {
    process.env.SLUICE_COMPACT_FUNCTION = savedTrigger;
    await stack?.close();
  });
  const live = (): LocalStack => {
    if (stack === undefined) throw new Error('the compaction fixture is used before its beforeAll ran');
    return stack;
  };
  return {
    get stack() {
      return live();
    },
    async createTopic(name, configs = {}, partitions = 1) {
      const res = await api(live().url, 'POST', '/v1/topics', { name, partitions, configs });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    },
    async produce(topic, value, partition = 0, timestamp) {
      const res = await api(live().url, 'POST', `/v1/topics/${topic}/records`, { records: [{ value, partition, ...(timestamp === undefined ? {} : { timestamp }) }] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    },
    async values(topic, from, partition = 0) {
      const out: string[] = [];
      for (let offset = from; ; ) {
        const res = await api(live().url, 'GET', `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxRecords=10000&maxBytes=4194304`);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        out.push(...res.body.records.map((r: { value: string }) => r.value));
        if (res.body.nextOffset >= res.body.highWatermark) return out;
        offset = res.body.nextOffset;
      }
    },
    async pkOf(topic, partition = 0) {
      return partitionPk((await getTopic(live().storage, topic)).topicId, partition);
    },
    async exists(key) {
      const storage = live().storage;
      return storage.s3.send(new HeadObjectCommand({ Bucket: storage.env.bucketName, Key: key })).then(
        () => true,
        () => false,
      );
    },
  };
}
