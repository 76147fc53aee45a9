/**
 * The single-table layout in DynamoDB and the object-key scheme in S3.
 *
 *   pk                                sk                      item
 *   TOPICS                            T#<name>                TopicItem (one per live topic)
 *   P#<topicId>#<partition>           HEAD                    HeadItem (created by the first append)
 *   P#<topicId>#<partition>           S#<lastOffset, 16 dig>  IndexEntryItem (one per committed object)
 *
 * Index entries sort by their last offset so that one forward Query from `S#<offset>`
 * returns the entry holding `offset` first, then the entries after it: a fetch costs one
 * query whatever the log's length. Partition items are keyed by the topic's `topicId`, not
 * its name, so a topic deleted and created again starts empty even while the old one's
 * leftovers are still being removed.
 *
 * S3 objects: `data/<topic>/<partition>/<topicId>/<writeId>.kafka`, each holding one or
 * more RecordBatch v2 byte runs as the producer sent them, with base offset 0.
 */
import type { TopicConfigs } from '../log/topic-config.ts';

export const TOPICS_PK = 'TOPICS';
export const HEAD_SK = 'HEAD';
export const DATA_PREFIX = 'data/';

/** Offsets are zero-padded so that string order is numeric order (16 digits > 2^53). */
const OFFSET_DIGITS = 16;

export function topicSk(name: string): string {
  return `T#${name}`;
}

export function partitionPk(topicId: string, partition: number): string {
  return `P#${topicId}#${partition}`;
}

export function indexSk(lastOffset: number): string {
  return `S#${lastOffset.toString().padStart(OFFSET_DIGITS, '0')}`;
}

/** The S3 prefix holding one partition's objects for one incarnation of a topic. */
export function partitionPrefix(topic: string, partition: number, topicId: string): string {
  return `${DATA_PREFIX}${topic}/${partition}/${topicId}/`;
}

/** A topic's metadata. */
export interface TopicItem {
  pk: typeof TOPICS_PK;
  sk: string;
  name: string;
  /** Random id of this incarnation of the name; partition items and objects are keyed by it. */
  topicId: string;
  /** Partition count. Only ever increases. */
  partitions: number;
  configs: TopicConfigs;
  createdAtMs: number;
  /** Set when the topic's first claim-check blob is registered; until then compaction has no blob work to look for. */
  hasBlobs?: true;
}

/** A partition's head. Absent until the first append; absence reads as an empty log. */
export interface HeadItem {
  pk: string;
  sk: typeof HEAD_SK;
  /** Next offset to assign: the high watermark. Never decreases. */
  nextOffset: number;
  /** First offset still readable. Never decreases; never exceeds nextOffset. */
  logStartOffset: number;
  /** Bytes of the indexed batches at or above removedBelowOffset. */
  bytes: number;
  /** Number of index entries at or above removedBelowOffset. */
  segments: number;
  /**
   * Retention has cut every index entry whose last offset is below this out of the log (and
   * out of bytes and segments); they and their objects are deleted after a grace period
   * (lib/retention/removal.ts). Never decreases; never exceeds logStartOffset. Absent: 0.
   */
  removedBelowOffset?: number;
  /** When the compact function last finished a pass over the partition. */
  lastCompactedAtMs?: number;
}

/** One committed object (or byte range of one) and the offsets it holds. */
export interface IndexEntryItem {
  pk: string;
  sk: string;
  /** Offset of the first record of the first batch. */
  baseOffset: number;
  /** Offset of the last record of the last batch; the sort key. */
  lastOffset: number;
  /** Records held (lastOffset - baseOffset + 1 for uncompacted batches). */
  recordCount: number;
  objectKey: string;
  /** Byte range of the batches inside the object. */
  byteStart: number;
  byteLength: number;
  /** Largest record timestamp in the entry (for time-based retention and lookup). */
  maxTimestamp: number;
  /** Batches in the entry. */
  batchCount: number;
  createdAtMs: number;
  /** The object's lifecycle expiry tag in days (lib/retention/lifecycle.ts); 0 or absent: none. */
  expireDays?: number;
}
