/**
 * Where claim-check blobs live, in S3 and in the table:
 *
 *   S3      blobs/<topic>/<topicId>/<blobId>        the uploaded value
 *   pk                          sk                        item
 *   BLOBS#<topicId>             B#<blobId>                BlobItem: one per uploaded blob
 *   BLOBS#<topicId>             D#<dueMs, 15 dig>#<id>    a blob whose last reference left the log, due for deletion
 *   BLOBREFS#<topicId>#<p>      O#<offset, 16 dig>#<id>   a committed record of partition p that references the blob
 *
 * The BLOBREFS items sort by offset, so the records that retention or DeleteRecords took out
 * of the log (every offset below the log start) are one Query's prefix, and a compaction
 * visit that removes nothing reads one empty page. Keys carry the topicId, as partition
 * items do, so a re-created topic never sees its predecessor's blobs.
 */

export const BLOB_OBJECT_PREFIX = 'blobs/';

/** The S3 prefix of one topic incarnation's blobs. */
export function blobPrefix(topic: string, topicId: string): string {
  return `${BLOB_OBJECT_PREFIX}${topic}/${topicId}/`;
}

export function blobObjectKey(topic: string, topicId: string, blobId: string): string {
  return `${blobPrefix(topic, topicId)}${blobId}`;
}

export function blobsPk(topicId: string): string {
  return `BLOBS#${topicId}`;
}

export const BLOB_SK_PREFIX = 'B#';
export const DUE_SK_PREFIX = 'D#';

export function blobSk(blobId: string): string {
  return `${BLOB_SK_PREFIX}${blobId}`;
}

export function dueSk(dueAtMs: number, blobId: string): string {
  return `${DUE_SK_PREFIX}${Math.max(0, Math.floor(dueAtMs)).toString().padStart(15, '0')}#${blobId}`;
}

export function referencesPk(topicId: string, partition: number): string {
  return `BLOBREFS#${topicId}#${partition}`;
}

export function referenceSk(offset: number, blobId: string): string {
  return `O#${offset.toString().padStart(16, '0')}#${blobId}`;
}

/** One uploaded blob. Deleted only once it has neither references nor claims. */
export interface BlobItem {
  pk: string;
  sk: string;
  blobId: string;
  objectKey: string;
  /** Bytes the uploader announced; the object must have exactly this length to be referenced. */
  size: number;
  /** Hex SHA-256 the uploader announced; consumers check the bytes against it. */
  sha256: string;
  createdAtMs: number;
  /** The S3 multipart upload, until it is completed. */
  uploadId?: string;
  /** Part size of the multipart upload (every part but the last). */
  partSizeBytes?: number;
  /**
   * Produce requests that reference the blob and have not recorded their offsets yet, as
   * `<partition>:<claimedAtMs>:<nonce>`. A claim keeps the blob; one older than a Lambda can
   * run belongs to a produce that died, and the collector turns it into a reference.
   */
  claims?: Set<string>;
  /** Committed records that reference the blob, as `<partition>:<offset>`. */
  refs?: Set<string>;
  /** Set once deletion has begun: no claim is accepted after it. */
  deleting?: boolean;
}

/** A committed record that references a blob, by partition and offset. */
export interface BlobReferenceItem {
  pk: string;
  sk: string;
  blobId: string;
  offset: number;
}

/** A blob whose last reference is gone, to be deleted once `dueAtMs` has passed (if still unreferenced then). */
export interface BlobDueItem {
  pk: string;
  sk: string;
  blobId: string;
  dueAtMs: number;
}
