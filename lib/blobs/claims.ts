/**
 * How the server learns which records reference which blobs: produce already validates
 * every batch, and a claim-check record is marked by its header, so the references are read
 * there. The protocol around the append keeps a referenced blob alive at every step:
 *
 *   claim (blob item: ADD claims)  →  append (object, commit)  →  record (ADD refs, DELETE claims; BLOBREFS items)
 *
 * A refused append withdraws its claims. A crash after the commit leaves a claim that no one
 * records; once it is older than any produce can run, the collector turns it into a
 * reference at the partition's high watermark then, which is past the record it stands for,
 * so the blob is released no earlier than that record leaves the log.
 */
import { randomUUID } from 'node:crypto';
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DecodeBudget } from '../codec/decode-budget.ts';
import { decodeRecordBatch } from '../codec/record-batch.ts';
import { SluiceError } from '../errors.ts';
import { log } from '../observability/logger.ts';
import type { AppendedPartition, PartitionBatches } from '../log/append.ts';
import type { Storage } from '../storage/clients.ts';
import type { TopicItem } from '../storage/schema.ts';
import { CLAIM_CHECK_HEADER, hasClaimCheckHeader, parseReference, type ClaimCheckReference } from './reference.ts';
import { blobObjectKey, blobsPk, blobSk, referencesPk, referenceSk, type BlobItem, type BlobReferenceItem } from './schema.ts';
import { checkUploaded } from './uploads.ts';

/** One claim-check record of a produce request, by its place in the request. */
export interface FoundReference {
  readonly partition: number;
  /** Index of the batch within its partition's batches. */
  readonly batch: number;
  readonly offsetDelta: number;
  readonly reference: ClaimCheckReference;
}

const MARKER = Buffer.from(CLAIM_CHECK_HEADER);
/** Distinct blobs one produce request may reference (each costs a HEAD and a conditional write before the append). */
const MAX_BLOBS_PER_REQUEST = 1000;
/** Blobs claimed at once. */
const CLAIM_CONCURRENCY = 16;
/** Reference items per transaction, beside the blob item's update (DynamoDB's limit is 100). */
const REFS_PER_TRANSACTION = 99;

/**
 * The claim-check records in verified batches. An uncompressed batch without the header's
 * bytes holds none and is not decoded again; a marked record whose value is not a reference
 * to one of this topic's blobs is refused as INVALID_RECORD.
 */
export async function findReferences(topic: TopicItem, parts: readonly PartitionBatches[]): Promise<FoundReference[]> {
  const found: FoundReference[] = [];
  const budget = new DecodeBudget('This request');
  for (const part of parts) {
    for (const [batch, { bytes, header }] of part.batches.entries()) {
      if (header.compression === 'none' && !bytes.includes(MARKER)) continue;
      const { records } = await decodeRecordBatch(bytes, 0, budget);
      for (const record of records) {
        if (!hasClaimCheckHeader(record.headers)) continue;
        const offsetDelta = record.offset - header.baseOffset;
        const reference = parseReference(record.value);
        if (reference === undefined) throw new SluiceError('INVALID_RECORD', `Record ${offsetDelta} of a batch for partition ${part.partition} has a ${CLAIM_CHECK_HEADER} header but its value is not a claim-check reference`);
        if (reference.key !== blobObjectKey(topic.name, topic.topicId, reference.id)) {
          throw new SluiceError('INVALID_RECORD', `Record ${offsetDelta} of a batch for partition ${part.partition} references blob ${reference.key}, which is not one of topic ${topic.name}'s blobs`);
        }
        found.push({ partition: part.partition, batch, offsetDelta, reference });
      }
    }
  }
  return found;
}

/** The claims one produce request holds, to record after its commit or withdraw after a refusal. */
export interface BlobClaims {
  /** Writes each referencing record's offset; the claims end. */
  record(appended: readonly AppendedPartition[]): Promise<void>;
  /** Ends the claims of a request that committed nothing. */
  withdraw(): Promise<void>;
}

const NO_CLAIMS: BlobClaims = { record: async () => {}, withdraw: async () => {} };

/**
 * Claims every blob the request references, before anything is written: each must be
 * uploaded in full, with the size and SHA-256 its reference states, and not being deleted.
 */
export async function claimBlobs(storage: Storage, topic: TopicItem, found: readonly FoundReference[], nowMs = Date.now()): Promise<BlobClaims> {
  if (found.length === 0) return NO_CLAIMS;
  const byBlob = new Map<string, { reference: ClaimCheckReference; claim: string; records: FoundReference[] }>();
  for (const f of found) {
    const entry = byBlob.get(f.reference.id) ?? { reference: f.reference, claim: `${f.partition}:${nowMs}:${randomUUID()}`, records: [] };
    entry.records.push(f);
    byBlob.set(f.reference.id, entry);
  }
  const pk = blobsPk(topic.topicId);
  const claimed: string[] = [];
  const withdraw = async (ids: readonly string[]) => {
    await Promise.all(
      ids.map((id) =>
        storage.ddb.send(
          new UpdateCommand({ TableName: storage.env.tableName, Key: { pk, sk: blobSk(id) }, UpdateExpression: 'DELETE claims :c', ConditionExpression: 'attribute_exists(pk)', ExpressionAttributeValues: { ':c': new Set([(byBlob.get(id) as { claim: string }).claim]) } }),
        ).catch(ignoreMissing),
      ),
    );
  };
  if (byBlob.size > MAX_BLOBS_PER_REQUEST) throw new SluiceError('INVALID_REQUEST', `The request references ${byBlob.size} blobs; at most ${MAX_BLOBS_PER_REQUEST} per request`);
  const claimOne = async (id: string, reference: ClaimCheckReference, claim: string) => {
    await checkUploaded(storage, { objectKey: reference.key, blobId: id, size: reference.size } as BlobItem);
    await storage.ddb
      .send(
        new UpdateCommand({
          TableName: storage.env.tableName,
          Key: { pk, sk: blobSk(id) },
          UpdateExpression: 'ADD claims :c',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(deleting) AND attribute_not_exists(uploadId) AND #size = :size AND sha256 = :sha',
          ExpressionAttributeNames: { '#size': 'size' },
          ExpressionAttributeValues: { ':c': new Set([claim]), ':size': reference.size, ':sha': reference.sha256 },
        }),
      )
      .catch((error: { name?: string }) => {
        if (error.name !== 'ConditionalCheckFailedException') throw error;
        throw new SluiceError('INVALID_RECORD', `Blob ${id} of topic ${topic.name} is unknown, not completely uploaded, being deleted, or of another size or SHA-256 than the reference states`);
      });
    claimed.push(id);
  };
  try {
    const entries = [...byBlob];
    for (let i = 0; i < entries.length; i += CLAIM_CONCURRENCY) {
      const settled = await Promise.allSettled(entries.slice(i, i + CLAIM_CONCURRENCY).map(([id, { reference, claim }]) => claimOne(id, reference, claim)));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    }
  } catch (error) {
    await withdraw(claimed);
    throw error;
  }
  return {
    withdraw: () => withdraw(claimed),
    record: async (appended) => {
      const offsetsOf = new Map(appended.map((a) => [a.partition, a.batchBaseOffsets]));
      await Promise.all(
        [...byBlob].map(async ([id, { claim, records }]) => {
          const refs = records.map((r) => ({ partition: r.partition, offset: ((offsetsOf.get(r.partition) ?? [])[r.batch] as number) + r.offsetDelta }));
          // A transaction holds 100 items; the claim ends with the last chunk, so a crash between chunks keeps it.
          for (let i = 0; i < refs.length; i += REFS_PER_TRANSACTION) {
            const chunk = refs.slice(i, i + REFS_PER_TRANSACTION);
            const last = i + REFS_PER_TRANSACTION >= refs.length;
            await storage.ddb.send(
              new TransactWriteCommand({
                TransactItems: [
                  {
                    Update: {
                      TableName: storage.env.tableName,
                      Key: { pk, sk: blobSk(id) },
                      UpdateExpression: last ? 'ADD refs :r DELETE claims :c' : 'ADD refs :r',
                      ExpressionAttributeValues: { ':r': new Set(chunk.map((r) => `${r.partition}:${r.offset}`)), ...(last ? { ':c': new Set([claim]) } : {}) },
                    },
                  },
                  ...chunk.map((r) => ({ Put: { TableName: storage.env.tableName, Item: { pk: referencesPk(topic.topicId, r.partition), sk: referenceSk(r.offset, id), blobId: id, offset: r.offset } satisfies BlobReferenceItem } })),
                ],
              }),
            );
          }
        }),
      );
    },
  };
}

function ignoreMissing(error: { name?: string }): void {
  if (error.name !== 'ConditionalCheckFailedException') throw error;
}

/**
 * The produce path's hook: claims the blobs `parts` reference, runs `append`, then records
 * the references. A refused append (a SluiceError with nothing committed) withdraws the
 * claims; any other failure may have committed, so its claims stay for the collector.
 */
export async function appendWithClaims<T extends readonly AppendedPartition[]>(storage: Storage, topic: TopicItem, parts: readonly PartitionBatches[], append: () => Promise<T>): Promise<T> {
  const claims = await claimBlobs(storage, topic, await findReferences(topic, parts));
  let appended: T;
  try {
    appended = await append();
  } catch (error) {
    if (error instanceof SluiceError && error.details.committedPartitions === undefined) await claims.withdraw();
    throw error;
  }
  try {
    await claims.record(appended);
  } catch (error) {
    // The records are committed and must be acknowledged; the claims left keep the blobs, and the collector turns them into references.
    log().warn('Could not record claim-check references; the collector will', { topic: topic.name, error: String(error) });
  }
  return appended;
}
