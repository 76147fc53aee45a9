import { GetObjectCommand } from '@aws-sdk/client-s3';
import { SEGMENT_CACHE_BYTES } from '../config/defaults.ts';
import type { Storage } from './clients.ts';

/**
 * Byte ranges of segment objects, kept across warm invocations. Safe because objects are
 * immutable: a key is written once and never rewritten (merges write new keys).
 * Staleness: none in content, unbounded in life (LRU by size only). An instance may hold
 * bytes of an object that another instance's compaction has since merged away or deleted;
 * they are never served, because every fetch reads the head and index afresh and asks only
 * for objects the index names now. Tested with two instances in
 * test/integration/instances-caches.test.ts.
 */
export class SegmentCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly capacityBytes: number = SEGMENT_CACHE_BYTES) {}

  /** The cached range, refreshing its recency, or undefined. */
  get(key: string): Buffer | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  /** Caches `value`, evicting least recently used ranges beyond the capacity. */
  set(key: string, value: Buffer): void {
    if (value.length > this.capacityBytes) return;
    const old = this.entries.get(key);
    if (old !== undefined) this.bytes -= old.length;
    this.entries.delete(key);
    this.entries.set(key, value);
    this.bytes += value.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.capacityBytes) break;
      this.entries.delete(k);
      this.bytes -= v.length;
    }
  }
}

const sharedCache = new SegmentCache();

/** Thrown when an indexed object is gone (removed by lifecycle retention). */
export class MissingObjectError extends Error {
  constructor(readonly objectKey: string) {
    super(`Object ${objectKey} is missing`);
  }
}

/** Reads `length` bytes at `start` of an immutable object, through the process-wide cache. */
export async function readObjectRange(storage: Storage, objectKey: string, start: number, length: number, cache: SegmentCache = sharedCache): Promise<Buffer> {
  const cacheKey = `${objectKey}@${start}+${length}`;
  const cached = cache.get(cacheKey);
  if (cached !== undefined) return cached;
  let body: Uint8Array;
  try {
    const result = await storage.s3.send(
      new GetObjectCommand({ Bucket: storage.env.bucketName, Key: objectKey, Range: `bytes=${start}-${start + length - 1}` }),
    );
    if (result.Body === undefined) throw new MissingObjectError(objectKey);
    body = await result.Body.transformToByteArray();
  } catch (error) {
    const name = (error as { name?: unknown }).name;
    if (name === 'NoSuchKey' || name === 'NotFound') throw new MissingObjectError(objectKey);
    throw error;
  }
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  cache.set(cacheKey, bytes);
  return bytes;
}
