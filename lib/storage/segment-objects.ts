import { randomUUID } from 'node:crypto';
import { DeleteObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { log } from '../observability/logger.ts';
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

/** DeleteObjects takes at most 1000 keys (an AWS limit). */
const DELETE_OBJECTS_KEYS = 1000;

/**
 * Deletes objects no index entry will ever name (their commit was refused, or answered as a
 * duplicate). Best effort and never throws: what it misses, orphan collection removes.
 */
export async function deleteUnreferencedObjects(storage: Storage, objectKeys: readonly string[]): Promise<void> {
  try {
    for (let i = 0; i < objectKeys.length; i += DELETE_OBJECTS_KEYS) {
      const objects = objectKeys.slice(i, i + DELETE_OBJECTS_KEYS).map((Key) => ({ Key }));
      await storage.s3.send(new DeleteObjectsCommand({ Bucket: storage.env.bucketName, Delete: { Objects: objects, Quiet: true } }));
    }
  } catch (error) {
    log().warn('Could not delete unreferenced objects; orphan collection will', { objects: objectKeys.length, error: String(error) });
  }
}
