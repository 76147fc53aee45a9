import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../../local/stack.ts';
import { encodeRecordBatch, readBatchHeader } from '../../lib/codec/record-batch.ts';
import { appendBatches } from '../../lib/log/append.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { forgetKnownHeads } from '../../lib/log/sequencer.ts';
import { partitionPk, type IndexEntryItem } from '../../lib/storage/schema.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

async function readAll(topic: string, partition: number): Promise<Array<{ offset: number; value: string }>> {
  const out: Array<{ offset: number; value: string }> = [];
  let offset = 0;
  for (;;) {
    const res = await api(stack.url, 'GET', `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxRecords=10000&maxBytes=4194304`);
    out.push(...res.body.records);
    if (res.body.nextOffset >= res.body.highWatermark) return out;
    offset = res.body.nextOffset;
  }
}

async function indexEntries(topicName: string, partition: number): Promise<IndexEntryItem[]> {
  const topic = await getTopic(stack.storage, topicName);
  const page = await stack.storage.ddb.send(
    new QueryCommand({ TableName: stack.storage.env.tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :s)', ExpressionAttributeValues: { ':pk': partitionPk(topic.topicId, partition), ':s': 'S#' } }),
  );
  return (page.Items ?? []) as IndexEntryItem[];
}

describe('sequencer', () => {
  it('gives 8 concurrent producers × 2,000 records 16,000 dense offsets, each record once, each producer in order', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'contended', partitions: 1 });
    const producers = 8;
    const perProducer = 2000;
    const perRequest = 100;
    await Promise.all(
      Array.from({ length: producers }, async (_, p) => {
        for (let start = 0; start < perProducer; start += perRequest) {
          const records = Array.from({ length: perRequest }, (_, i) => ({ value: `${p}:${start + i}`, partition: 0 }));
          for (;;) {
            const res = await api(stack.url, 'POST', '/v1/topics/contended/records', { records });
            if (res.status === 200) break;
            // Only a retriable answer may be retried; anything else fails the test.
            expect(res.body.retriable, JSON.stringify(res.body)).toBe(true);
          }
        }
      }),
    );
    const records = await readAll('contended', 0);
    expect(records).toHaveLength(producers * perProducer);
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: producers * perProducer }, (_, i) => i));
    const seen = new Set(records.map((r) => r.value));
    expect(seen.size).toBe(producers * perProducer);
    for (let p = 0; p < producers; p++) {
      const mine = records.filter((r) => r.value.startsWith(`${p}:`)).map((r) => Number(r.value.split(':')[1]));
      expect(mine).toEqual(Array.from({ length: perProducer }, (_, i) => i));
    }
    // The index covers every offset exactly once (the compaction trigger may have merged entries meanwhile).
    const entries = await indexEntries('contended', 0);
    expect(entries[0]?.baseOffset).toBe(0);
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.baseOffset).toBe(entries[i - 1]!.lastOffset + 1);
    expect(entries.at(-1)?.lastOffset).toBe(producers * perProducer - 1);
  });

  it('leaves no gap and no dangling index entry when a crash hits between the S3 PUT and the commit', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'crashy', partitions: 1 });
    await api(stack.url, 'POST', '/v1/topics/crashy/records', { records: [{ value: 'before' }] });
    const topic = await getTopic(stack.storage, 'crashy');
    const bytes = await encodeRecordBatch([{ key: null, value: Buffer.from('lost'), headers: [], timestamp: Date.now() }]);
    const crash = new Error('injected crash after PUT');
    await expect(
      appendBatches(stack.storage, topic, [{ partition: 0, batches: [{ bytes, header: readBatchHeader(bytes) }] }], {
        afterObjectsWritten: async () => {
          throw crash;
        },
      }),
    ).rejects.toBe(crash);
    // The object was written but nothing points at it: an orphan for compaction to collect.
    const listed = await stack.storage.s3.send(new ListObjectsV2Command({ Bucket: stack.storage.env.bucketName, Prefix: `data/crashy/0/${topic.topicId}/` }));
    expect(listed.Contents).toHaveLength(2);
    forgetKnownHeads();
    await api(stack.url, 'POST', '/v1/topics/crashy/records', { records: [{ value: 'after' }] });
    expect((await readAll('crashy', 0)).map((r) => [r.offset, r.value])).toEqual([[0, 'before'], [1, 'after']]);
    for (const entry of await indexEntries('crashy', 0)) {
      await expect(stack.storage.s3.send(new HeadObjectCommand({ Bucket: stack.storage.env.bucketName, Key: entry.objectKey }))).resolves.toBeDefined();
    }
  });

  it('acknowledges nothing and assigns nothing when the S3 PUT itself fails', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'putfails', partitions: 1 });
    const topic = await getTopic(stack.storage, 'putfails');
    const broken = { ...stack.storage, env: { ...stack.storage.env, bucketName: 'no-such-bucket' } };
    const bytes = await encodeRecordBatch([{ key: null, value: Buffer.from('x'), headers: [], timestamp: 1 }]);
    await expect(appendBatches(broken, topic, [{ partition: 0, batches: [{ bytes, header: readBatchHeader(bytes) }] }])).rejects.toThrow();
    expect((await api(stack.url, 'GET', '/v1/topics/putfails')).body.partitions[0]).toMatchObject({ highWatermark: 0, segments: 0 });
  });
});

describe('long poll', () => {
  it('returns as soon as data arrives, well before waitMs', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'polled', partitions: 1 });
    const started = Date.now();
    const pending = api(stack.url, 'GET', '/v1/topics/polled/partitions/0/records?offset=0&waitMs=15000');
    await new Promise((r) => setTimeout(r, 300));
    await api(stack.url, 'POST', '/v1/topics/polled/records', { records: [{ value: 'wake up' }] });
    const res = await pending;
    const elapsed = Date.now() - started;
    expect(res.body.records.map((r: any) => r.value)).toEqual(['wake up']);
    expect(elapsed).toBeLessThan(5000);
  });

  it('returns empty after waitMs when nothing arrives', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'quiet', partitions: 1 });
    const started = Date.now();
    const res = await api(stack.url, 'GET', '/v1/topics/quiet/partitions/0/records?offset=0&waitMs=400');
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(res.body).toMatchObject({ records: [], nextOffset: 0, highWatermark: 0 });
  });
});
