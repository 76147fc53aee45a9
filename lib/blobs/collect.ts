/**
 * Blob lifecycle: a blob is deleted a grace period after the last record that references it
 * leaves the log, and an uploaded blob that no record came to reference is deleted once it
 * is older than the orphan grace. The compact function runs this on its partition visits
 * (lib/retention/compact.ts), and key compaction and topic deletion call in directly.
 *
 * - Retention and DeleteRecords both raise the log start offset, so the references that
 *   left the log are the BLOBREFS items below it: one Query, empty when nothing left.
 * - Key compaction reports the claim-check records it dropped (releaseDropped).
 * - A blob whose references are all gone gets a due item; when it is due, the blob is
 *   deleted only if still unreferenced and unclaimed (a record may reference it again).
 * - New blobs are judged once each, in creation order, after the orphan grace: one with
 *   neither claims nor references is an orphan. A cursor keeps the judged prefix, so old
 *   blobs are never read again.
 *
 * Deletion: `deleting` is set on the blob item (conditional on no refs and no claims, and
 * claims are conditional on no `deleting`), then the object goes, then the item. A crash
 * in between leaves `deleting` set, and the next run finishes the job.
 */
import { AbortMultipartUploadCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { BatchWriteCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BLOBS, COMPACTION } from '../config/defaults.ts';
import type { DecodedRecord } from '../codec/record-batch.ts';
import { deletePrefix } from '../log/purge.ts';
import type { Storage } from '../storage/clients.ts';
import { queryPages } from '../storage/query-pages.ts';
import { HEAD_SK, partitionPk, type TopicItem } from '../storage/schema.ts';
import { hasClaimCheckHeader, parseReference } from './reference.ts';
import { BLOB_SK_PREFIX, blobPrefix, blobsPk, blobSk, DUE_SK_PREFIX, dueSk, referencesPk, referenceSk, type BlobDueItem, type BlobItem, type BlobReferenceItem } from './schema.ts';

const CURSOR_SK = 'CURSOR';

export interface BlobCollectionOptions {
  clock?: () => number;
  /** How long a released blob stays for readers in flight. @default COMPACTION.deleteGraceMs */
  deleteGraceMs?: number;
  /** Age at which an unreferenced blob is an orphan. @default COMPACTION.orphanGraceMs */
  orphanGraceMs?: number;
  /** Age at which a produce's claim is stale. @default BLOBS.staleClaimMs */
  staleClaimMs?: number;
  /** Work stops here; the rest waits for the next visit. */
  deadlineMs?: number;
}

export interface BlobCollectionReport {
  released: number;
  deleted: number;
  /** When this topic's blobs next need a visit (Infinity: not before something changes). */
  nextDueAtMs: number;
}

function settingsOf(options: BlobCollectionOptions) {
  return {
    clock: options.clock ?? Date.now,
    deleteGraceMs: options.deleteGraceMs ?? COMPACTION.deleteGraceMs,
    orphanGraceMs: options.orphanGraceMs ?? COMPACTION.orphanGraceMs,
    staleClaimMs: options.staleClaimMs ?? BLOBS.staleClaimMs,
    deadlineMs: options.deadlineMs ?? Number.POSITIVE_INFINITY,
  };
}

/**
 * One visit's blob work for a partition of `topic`: releases the references below
 * `logStartOffset`, deletes the topic's blobs that are due, and judges new blobs.
 */
export async function collectBlobs(storage: Storage, topic: TopicItem, partition: number, logStartOffset: number, options: BlobCollectionOptions = {}): Promise<BlobCollectionReport> {
  const s = settingsOf(options);
  const released = await releaseBelow(storage, topic, partition, logStartOffset, s.clock() + s.deleteGraceMs, s.deadlineMs, s.clock);
  const due = await deleteDue(storage, topic, s);
  const judged = await judgeNew(storage, topic, s);
  // Every visit may do the topic's blob work, but only partition 0 books visits for it at
  // their exact time; the others come back no sooner than the discovery interval, so a topic
  // whose partition 0 holds nothing is still served without every partition chasing each blob.
  const topicDueAtMs = Math.min(due.nextDueAtMs, judged.nextDueAtMs);
  const bookedAtMs = partition === 0 ? topicDueAtMs : Math.max(topicDueAtMs, s.clock() + COMPACTION.discoveryIntervalMs);
  return { released, deleted: due.deleted + judged.deleted, nextDueAtMs: Math.min(released > 0 ? s.clock() + s.deleteGraceMs : Number.POSITIVE_INFINITY, bookedAtMs) };
}

/** Releases every reference of `partition` below `logStartOffset`: those records left the log. */
async function releaseBelow(storage: Storage, topic: TopicItem, partition: number, logStartOffset: number, dueAtMs: number, deadlineMs: number, clock: () => number): Promise<number> {
  let released = 0;
  const pk = referencesPk(topic.topicId, partition);
  for await (const page of queryPages<BlobReferenceItem>(storage, { KeyConditionExpression: 'pk = :pk AND sk < :upper', ExpressionAttributeValues: { ':pk': pk, ':upper': referenceSk(logStartOffset, '') }, Limit: BLOBS.collectPageSize })) {
    for (const item of page) {
      await releaseReference(storage, topic, item.blobId, `${partition}:${item.offset}`, dueAtMs);
      await storage.ddb.send(new DeleteCommand({ TableName: storage.env.tableName, Key: { pk: item.pk, sk: item.sk } }));
      released++;
    }
    if (clock() >= deadlineMs) break;
  }
  return released;
}

/** Releases the references of records key compaction dropped from `partition`, after its commit. */
export async function releaseDropped(storage: Storage, topic: TopicItem, partition: number, dropped: readonly DecodedRecord[], dueAtMs: number): Promise<void> {
  for (const record of dropped) {
    if (!hasClaimCheckHeader(record.headers)) continue;
    const reference = parseReference(record.value);
    if (reference === undefined) continue;
    await releaseReference(storage, topic, reference.id, `${partition}:${record.offset}`, dueAtMs);
    await storage.ddb.send(new DeleteCommand({ TableName: storage.env.tableName, Key: { pk: referencesPk(topic.topicId, partition), sk: referenceSk(record.offset, reference.id) } }));
  }
}

/** Removes one reference; the blob's last one queues it for deletion at `dueAtMs`. Idempotent. */
async function releaseReference(storage: Storage, topic: TopicItem, blobId: string, ref: string, dueAtMs: number): Promise<void> {
  const pk = blobsPk(topic.topicId);
  let after: BlobItem | undefined;
  try {
    const result = await storage.ddb.send(
      new UpdateCommand({ TableName: storage.env.tableName, Key: { pk, sk: blobSk(blobId) }, UpdateExpression: 'DELETE refs :r', ConditionExpression: 'attribute_exists(pk)', ExpressionAttributeValues: { ':r': new Set([ref]) }, ReturnValues: 'ALL_NEW' }),
    );
    after = result.Attributes as BlobItem | undefined;
  } catch (error) {
    if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
    return;
  }
  if (after !== undefined && (after.refs?.size ?? 0) === 0 && (after.claims?.size ?? 0) === 0) {
    await storage.ddb.send(new PutCommand({ TableName: storage.env.tableName, Item: { pk, sk: dueSk(dueAtMs, blobId), blobId, dueAtMs } satisfies BlobDueItem }));
  }
}

type Settings = ReturnType<typeof settingsOf>;

/** Deletes the released blobs whose grace is over, unless referenced or claimed again. */
async function deleteDue(storage: Storage, topic: TopicItem, s: Settings): Promise<{ deleted: number; nextDueAtMs: number }> {
  const pk = blobsPk(topic.topicId);
  let deleted = 0;
  let nextDueAtMs = Number.POSITIVE_INFINITY;
  const pages = queryPages<BlobDueItem>(storage, { KeyConditionExpression: 'pk = :pk AND begins_with(sk, :d)', ExpressionAttributeValues: { ':pk': pk, ':d': DUE_SK_PREFIX }, Limit: BLOBS.collectPageSize });
  outer: for await (const page of pages) {
    for (const due of page) {
      if (due.dueAtMs > s.clock() || s.clock() >= s.deadlineMs) {
        nextDueAtMs = Math.min(nextDueAtMs, due.dueAtMs);
        break outer;
      }
      const blob = await getBlob(storage, topic, due.blobId);
      const outcome = blob === undefined ? 'gone' : await settle(storage, topic, blob, s);
      if (outcome === 'deleted') deleted++;
      if (outcome === 'claimed') {
        // A produce is between its claim and its record; look again after another grace.
        nextDueAtMs = Math.min(nextDueAtMs, s.clock() + s.deleteGraceMs);
        await storage.ddb.send(new PutCommand({ TableName: storage.env.tableName, Item: { pk, sk: dueSk(s.clock() + s.deleteGraceMs, due.blobId), blobId: due.blobId, dueAtMs: s.clock() + s.deleteGraceMs } satisfies BlobDueItem }));
      }
      await storage.ddb.send(new DeleteCommand({ TableName: storage.env.tableName, Key: { pk, sk: due.sk } }));
    }
  }
  return { deleted, nextDueAtMs };
}

/**
 * Judges the blobs created since the cursor and older than the orphan grace, in creation
 * order: stale claims become references, unreferenced blobs are deleted. Stops at a blob
 * with a claim still in progress and keeps the cursor there.
 */
async function judgeNew(storage: Storage, topic: TopicItem, s: Settings): Promise<{ deleted: number; nextDueAtMs: number }> {
  const pk = blobsPk(topic.topicId);
  const cursor = await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk, sk: CURSOR_SK }, ConsistentRead: true }));
  const fromSk = typeof cursor.Item?.afterSk === 'string' ? (cursor.Item.afterSk as string) : BLOB_SK_PREFIX;
  const cutoffMs = s.clock() - s.orphanGraceMs;
  const upper = blobSk(`${Math.max(0, cutoffMs).toString().padStart(15, '0')}.`);
  let deleted = 0;
  let afterSk = fromSk;
  let nextDueAtMs = Number.POSITIVE_INFINITY;
  const pages = queryPages<BlobItem>(storage, { KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :upper', ExpressionAttributeValues: { ':pk': pk, ':from': fromSk, ':upper': upper }, Limit: BLOBS.collectPageSize, ConsistentRead: true });
  outer: for await (const page of pages) {
    for (const blob of page) {
      if (blob.sk === fromSk && fromSk !== BLOB_SK_PREFIX) continue;
      if (s.clock() >= s.deadlineMs) {
        nextDueAtMs = s.clock();
        break outer;
      }
      const outcome = await settle(storage, topic, blob, s);
      if (outcome === 'claimed') {
        nextDueAtMs = s.clock() + s.deleteGraceMs;
        break outer;
      }
      if (outcome === 'deleted') deleted++;
      afterSk = blob.sk;
    }
  }
  if (afterSk !== fromSk) await storage.ddb.send(new PutCommand({ TableName: storage.env.tableName, Item: { pk, sk: CURSOR_SK, afterSk } }));
  if (nextDueAtMs === Number.POSITIVE_INFINITY) {
    // The next blob to judge becomes an orphan candidate one grace after its creation.
    const next = await storage.ddb.send(
      new QueryCommand({ TableName: storage.env.tableName, KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to', ExpressionAttributeValues: { ':pk': pk, ':from': `${afterSk}\u0000`, ':to': `${BLOB_SK_PREFIX}~` }, Limit: 1, ProjectionExpression: 'createdAtMs' }),
    );
    const createdAtMs = next.Items?.[0]?.createdAtMs;
    if (typeof createdAtMs === 'number') nextDueAtMs = createdAtMs + s.orphanGraceMs;
  }
  return { deleted, nextDueAtMs };
}

/**
 * Decides one blob: 'referenced' (it stays), 'claimed' (a produce may still record it),
 * 'deleted', or 'gone'. Stale claims are turned into references first.
 */
async function settle(storage: Storage, topic: TopicItem, blob: BlobItem, s: Settings): Promise<'referenced' | 'claimed' | 'deleted' | 'gone'> {
  let fresh = false;
  for (const claim of blob.claims ?? []) {
    const [partition, claimedAtMs] = claim.split(':').map(Number) as [number, number];
    if (s.clock() - claimedAtMs < s.staleClaimMs) fresh = true;
    else await convertStaleClaim(storage, topic, blob.blobId, claim, partition);
  }
  if (fresh) return 'claimed';
  if ((blob.claims?.size ?? 0) > 0 || (blob.refs?.size ?? 0) > 0) return 'referenced';
  return (await deleteBlob(storage, blob)) ? 'deleted' : 'referenced';
}

/**
 * A claim whose produce died after committing, or before: the record, if any, has an offset
 * below the partition's high watermark now, so a reference there releases the blob only
 * after that record has left the log.
 */
async function convertStaleClaim(storage: Storage, topic: TopicItem, blobId: string, claim: string, partition: number): Promise<void> {
  const head = await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk: partitionPk(topic.topicId, partition), sk: HEAD_SK }, ConsistentRead: true, ProjectionExpression: 'nextOffset' }));
  const offset = Number(head.Item?.nextOffset ?? 0);
  try {
    await storage.ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: storage.env.tableName,
              Key: { pk: blobsPk(topic.topicId), sk: blobSk(blobId) },
              UpdateExpression: 'ADD refs :r DELETE claims :c',
              ConditionExpression: 'contains(claims, :claim)',
              ExpressionAttributeValues: { ':r': new Set([`${partition}:${offset}`]), ':c': new Set([claim]), ':claim': claim },
            },
          },
          { Put: { TableName: storage.env.tableName, Item: { pk: referencesPk(topic.topicId, partition), sk: referenceSk(offset, blobId), blobId, offset } satisfies BlobReferenceItem } },
        ],
      }),
    );
  } catch (error) {
    // Recorded or converted meanwhile.
    if ((error as { name?: string }).name !== 'TransactionCanceledException') throw error;
  }
}

/** Deletes an unreferenced, unclaimed blob; false when a reference or claim appeared first. */
async function deleteBlob(storage: Storage, blob: BlobItem): Promise<boolean> {
  const key = { pk: blob.pk, sk: blob.sk };
  try {
    await storage.ddb.send(
      new UpdateCommand({ TableName: storage.env.tableName, Key: key, UpdateExpression: 'SET deleting = :t', ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(refs) AND attribute_not_exists(claims)', ExpressionAttributeValues: { ':t': true } }),
    );
  } catch (error) {
    if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
    return false;
  }
  if (blob.uploadId !== undefined) {
    await storage.s3.send(new AbortMultipartUploadCommand({ Bucket: storage.env.bucketName, Key: blob.objectKey, UploadId: blob.uploadId })).catch((error: { name?: string }) => {
      if (error.name !== 'NoSuchUpload') throw error;
    });
  }
  await storage.s3.send(new DeleteObjectCommand({ Bucket: storage.env.bucketName, Key: blob.objectKey }));
  await storage.ddb.send(new DeleteCommand({ TableName: storage.env.tableName, Key: key }));
  return true;
}

async function getBlob(storage: Storage, topic: TopicItem, blobId: string): Promise<BlobItem | undefined> {
  const result = await storage.ddb.send(new GetCommand({ TableName: storage.env.tableName, Key: { pk: blobsPk(topic.topicId), sk: blobSk(blobId) }, ConsistentRead: true }));
  return result.Item as BlobItem | undefined;
}

/** Removes a deleted topic's blobs and their items (topic deletion's purge). */
export async function purgeTopicBlobs(storage: Storage, topic: TopicItem): Promise<void> {
  await deletePrefix(storage, blobPrefix(topic.name, topic.topicId));
  const pks = [blobsPk(topic.topicId), ...Array.from({ length: topic.partitions }, (_, p) => referencesPk(topic.topicId, p))];
  for (const pk of pks) {
    for await (const page of queryPages<{ pk: string; sk: string }>(storage, { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ProjectionExpression: 'pk, sk' })) {
      for (let i = 0; i < page.length; i += 25) {
        let requests: Record<string, Array<{ DeleteRequest: { Key: Record<string, unknown> } }>> | undefined = {
          [storage.env.tableName]: page.slice(i, i + 25).map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } })),
        };
        while (requests !== undefined && (requests[storage.env.tableName]?.length ?? 0) > 0) {
          const result = await storage.ddb.send(new BatchWriteCommand({ RequestItems: requests }));
          requests = result.UnprocessedItems as typeof requests;
        }
      }
    }
  }
}
