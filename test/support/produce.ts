import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { partitionPk, type IndexEntryItem } from '../../lib/storage/schema.ts';
import { BATCHES_MEDIA_TYPE, encodeFrames } from '../../lib/codec/framing.ts';
import { encodeRecordBatch, type EncodeBatchOptions } from '../../lib/codec/record-batch.ts';
import { api } from './stack.ts';

/** One batch of string values, as a producer encodes it. */
export async function batchOf(values: readonly string[], options: EncodeBatchOptions = {}, timestamp = 1): Promise<Buffer> {
  return encodeRecordBatch(
    values.map((v) => ({ key: null, value: Buffer.from(v), headers: [], timestamp })),
    options,
  );
}

/** A binary produce of framed batches; the parsed JSON answer. */
export async function produceFrames(stack: LocalStack, topic: string, frames: ReadonlyArray<{ partition: number; batch: Buffer }>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${stack.url}/v1/topics/${topic}/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body: encodeFrames(frames) });
  return { status: res.status, body: await res.json() };
}

/** Every object stored under a topic's data prefix (all incarnations). */
export async function objectKeys(stack: LocalStack, topic: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await stack.storage.s3.send(new ListObjectsV2Command({ Bucket: stack.storage.env.bucketName, Prefix: `data/${topic}/`, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key])));
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
}

/** Each partition's high watermark, from describe. */
export async function highWatermarks(stack: LocalStack, topic: string): Promise<number[]> {
  const res = await api(stack.url, 'GET', `/v1/topics/${topic}`);
  return res.body.partitions.map((p: { highWatermark: number }) => p.highWatermark);
}

/** A fresh producer id from the API. */
export async function newProducerId(stack: LocalStack): Promise<bigint> {
  return BigInt((await api(stack.url, 'POST', '/v1/producers')).body.producerId);
}

/** A partition's index entries, in offset order (one consistent Query page). */
export async function indexEntries(stack: LocalStack, topic: string, partition = 0): Promise<IndexEntryItem[]> {
  const pk = partitionPk((await getTopic(stack.storage, topic)).topicId, partition);
  const page = await stack.storage.ddb.send(
    new QueryCommand({ TableName: stack.storage.env.tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': pk, ':p': 'S#' }, ConsistentRead: true }),
  );
  return (page.Items ?? []) as IndexEntryItem[];
}

/** Asserts dense index entries from offset 0 to `highWatermark`, each naming an object that exists. */
export async function expectSoundIndex(stack: LocalStack, topic: string, highWatermark: number, partition = 0): Promise<void> {
  let next = 0;
  for (const entry of await indexEntries(stack, topic, partition)) {
    expect(entry.baseOffset).toBe(next);
    next = entry.lastOffset + 1;
    await expect(stack.storage.s3.send(new HeadObjectCommand({ Bucket: stack.storage.env.bucketName, Key: entry.objectKey }))).resolves.toBeDefined();
  }
  expect(next).toBe(highWatermark);
}
