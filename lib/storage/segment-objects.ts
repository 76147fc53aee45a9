import { randomUUID } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { expiryDaysFor, expiryTagging } from '../retention/lifecycle.ts';
import type { Storage } from './clients.ts';
import { partitionPrefix, type TopicItem } from './schema.ts';

/** Why an object was written: a produce, a merge, or a key-compaction rewrite (it shows in the key). */
export type SegmentKind = 'produced' | 'merged' | 'compacted';

/**
 * Writes one immutable segment object under the partition's prefix, named
 * `<time>-<kind>-<uuid>.kafka` so keys never repeat, and tagged for the lifecycle backstop
 * per the topic's retention. Returns its key and the expiry rung it was tagged with.
 */
export async function putSegmentObject(storage: Storage, topic: TopicItem, partition: number, kind: SegmentKind, body: Buffer, nowMs = Date.now()): Promise<{ objectKey: string; expireDays: number }> {
  const expireDays = expiryDaysFor(topic.configs);
  const objectKey = `${partitionPrefix(topic.name, partition, topic.topicId)}${nowMs.toString().padStart(15, '0')}-${kind}-${randomUUID()}.kafka`;
  await storage.s3.send(new PutObjectCommand({ Bucket: storage.env.bucketName, Key: objectKey, Body: body, ContentType: 'application/vnd.kafka.record-batch', Tagging: expiryTagging(expireDays) }));
  return { objectKey, expireDays };
}
