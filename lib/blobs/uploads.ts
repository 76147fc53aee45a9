/**
 * The blob routes' work: register a blob and hand out presigned upload URLs, complete a
 * multipart upload, and locate a blob for download. The blob item is written before any URL
 * is handed out, so every object under a topic's blob prefix has an item (or is an orphan
 * of a crash, which the collector removes by its age).
 */
import { randomUUID } from 'node:crypto';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BLOBS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import type { Storage } from '../storage/clients.ts';
import { TOPICS_PK, topicSk, type TopicItem } from '../storage/schema.ts';
import { presignGet, presignPut, presignUploadPart, PRESIGNED_URL_TTL_SECONDS } from './presign.ts';
import { blobObjectKey, blobsPk, blobSk, type BlobItem } from './schema.ts';

/** Where and how to upload a registered blob. */
export type BlobUpload =
  | { readonly type: 'single'; readonly url: string }
  | { readonly type: 'multipart'; readonly partSizeBytes: number; readonly parts: ReadonlyArray<{ readonly partNumber: number; readonly url: string }> };

export interface RegisteredBlob {
  readonly id: string;
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
  readonly expiresInSeconds: number;
  readonly upload: BlobUpload;
}

/** Parts of `partSizeBytes` (the last one shorter) that hold `size` bytes. */
export function partCount(size: number, partSizeBytes: number): number {
  return Math.max(1, Math.ceil(size / partSizeBytes));
}

/**
 * Registers a blob of `size` bytes and answers with presigned PUT URL(s): one URL up to the
 * multipart threshold (or `partSizeBytes` when given), else one per part of a multipart
 * upload that `completeBlob` closes.
 */
export async function registerBlob(storage: Storage, topic: TopicItem, input: { size: number; sha256: string; partSizeBytes?: number | undefined }, nowMs = Date.now()): Promise<RegisteredBlob> {
  const partSizeBytes = input.partSizeBytes ?? BLOBS.multipartThresholdBytes;
  if (partCount(input.size, partSizeBytes) > BLOBS.maxParts) {
    throw new SluiceError('INVALID_REQUEST', `A ${input.size}-byte blob in ${partSizeBytes}-byte parts needs more than S3's ${BLOBS.maxParts} parts`);
  }
  const id = `${nowMs.toString().padStart(15, '0')}-${randomUUID().replaceAll('-', '')}`;
  const objectKey = blobObjectKey(topic.name, topic.topicId, id);
  const multipart = input.size > partSizeBytes;
  let uploadId: string | undefined;
  if (multipart) {
    const created = await storage.s3.send(new CreateMultipartUploadCommand({ Bucket: storage.env.bucketName, Key: objectKey, ContentType: 'application/octet-stream' }));
    uploadId = created.UploadId as string;
  }
  const item: BlobItem = { pk: blobsPk(topic.topicId), sk: blobSk(id), blobId: id, objectKey, size: input.size, sha256: input.sha256, createdAtMs: nowMs, ...(uploadId === undefined ? {} : { uploadId, partSizeBytes }) };
  await markTopicHasBlobs(storage, topic);
  await storage.ddb.send(new PutCommand({ TableName: storage.env.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
  const upload: BlobUpload =
    uploadId === undefined
      ? { type: 'single', url: await presignPut(storage.env, objectKey) }
      : {
          type: 'multipart',
          partSizeBytes,
          parts: await Promise.all(
            Array.from({ length: partCount(input.size, partSizeBytes) }, async (_, i) => ({ partNumber: i + 1, url: await presignUploadPart(storage.env, objectKey, uploadId as string, i + 1) })),
          ),
        };
  return { id, key: objectKey, size: input.size, sha256: input.sha256, expiresInSeconds: PRESIGNED_URL_TTL_SECONDS, upload };
}

/** Incarnations this instance has marked: the flag is set once and never cleared. */
const marked = new Set<string>();

/**
 * Flags the topic item before its first blob exists, so that compaction visits of topics that
 * never used claim-check skip the blob queries (most topics: a visit with nothing due stays a
 * few requests). The write is conditional on the incarnation, so a re-created topic starts unflagged.
 */
async function markTopicHasBlobs(storage: Storage, topic: TopicItem): Promise<void> {
  if (topic.hasBlobs === true || marked.has(topic.topicId)) return;
  try {
    await storage.ddb.send(
      new UpdateCommand({
        TableName: storage.env.tableName,
        Key: { pk: TOPICS_PK, sk: topicSk(topic.name) },
        UpdateExpression: 'SET hasBlobs = :true',
        ConditionExpression: 'topicId = :topicId',
        ExpressionAttributeValues: { ':true': true, ':topicId': topic.topicId },
      }),
    );
  } catch (error) {
    if ((error as { name?: string }).name === 'ConditionalCheckFailedException') throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${JSON.stringify(topic.name)} was deleted`);
    throw error;
  }
  marked.add(topic.topicId);
}

/** The blob item, or NOT_FOUND naming the blob (never uploaded here, or collected). */
export async function readBlob(storage: Storage, topic: TopicItem, blobId: string): Promise<BlobItem> {
  const result = await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk: blobsPk(topic.topicId), sk: blobSk(blobId) }, ConsistentRead: true }));
  const item = result.Item as BlobItem | undefined;
  if (item === undefined || item.deleting === true) throw new SluiceError('NOT_FOUND', `Topic ${topic.name} has no blob ${blobId}`);
  return item;
}

/** Completes a blob's multipart upload from the parts' ETags, and checks the object's length. */
export async function completeBlob(storage: Storage, topic: TopicItem, blobId: string, parts: ReadonlyArray<{ partNumber: number; etag: string }>): Promise<{ id: string; size: number }> {
  const item = await readBlob(storage, topic, blobId);
  if (item.uploadId !== undefined) {
    const expected = partCount(item.size, item.partSizeBytes ?? BLOBS.multipartThresholdBytes);
    if (parts.length !== expected) throw new SluiceError('INVALID_REQUEST', `Blob ${blobId} needs ${expected} parts, got ${parts.length}`);
    try {
      await storage.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: storage.env.bucketName,
          Key: item.objectKey,
          UploadId: item.uploadId,
          MultipartUpload: { Parts: [...parts].sort((a, b) => a.partNumber - b.partNumber).map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
      );
    } catch (error) {
      const name = (error as { name?: string }).name ?? '';
      if (!['InvalidPart', 'InvalidPartOrder', 'NoSuchUpload', 'EntityTooSmall'].includes(name)) throw error;
      throw new SluiceError('INVALID_REQUEST', `S3 refused to complete blob ${blobId}: ${name}`);
    }
    await storage.ddb.send(
      new UpdateCommand({
        TableName: storage.env.tableName,
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: 'REMOVE uploadId',
        ConditionExpression: 'attribute_exists(pk)',
      }),
    );
  }
  await checkUploaded(storage, item);
  return { id: blobId, size: item.size };
}

/** Refuses a blob whose object is missing or of another length than announced. */
export async function checkUploaded(storage: Storage, item: BlobItem): Promise<void> {
  let length: number | undefined;
  try {
    const head = await storage.s3.send(new HeadObjectCommand({ Bucket: storage.env.bucketName, Key: item.objectKey }));
    length = head.ContentLength;
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name !== 'NotFound' && name !== 'NoSuchKey') throw error;
  }
  if (length === undefined) throw new SluiceError('INVALID_RECORD', `Blob ${item.blobId} has not been uploaded`);
  if (length !== item.size) throw new SluiceError('INVALID_RECORD', `Blob ${item.blobId} holds ${length} bytes, not the ${item.size} announced`);
}

/** A presigned GET URL for a blob. */
export async function locateBlob(storage: Storage, topic: TopicItem, blobId: string): Promise<{ id: string; key: string; size: number; sha256: string; url: string; expiresInSeconds: number }> {
  const item = await readBlob(storage, topic, blobId);
  return { id: blobId, key: item.objectKey, size: item.size, sha256: item.sha256, url: await presignGet(storage.env, item.objectKey), expiresInSeconds: PRESIGNED_URL_TTL_SECONDS };
}
