/**
 * Orphans: objects no index entry or pending deletion refers to. A produce or a merge
 * that crashed between its PUT and its commit leaves one; so does a topic deletion cut
 * short. The rule: an unreferenced object older than the orphan grace period (longer than
 * a Lambda can run, so no writer can still be about to commit it) is deleted. Objects
 * under a dead incarnation of a topic (a topicId that is not the topic's current one, or
 * a topic that no longer exists) are all unreferenced by construction.
 */
import { DeleteObjectsCommand, ListObjectsV2Command, type _Object } from '@aws-sdk/client-s3';
import type { Storage } from '../storage/clients.ts';
import { DATA_PREFIX } from '../storage/schema.ts';

async function listPrefixes(storage: Storage, prefix: string): Promise<string[]> {
  const prefixes: string[] = [];
  let token: string | undefined;
  do {
    const page = await storage.s3.send(new ListObjectsV2Command({ Bucket: storage.env.bucketName, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
    for (const p of page.CommonPrefixes ?? []) if (p.Prefix !== undefined) prefixes.push(p.Prefix);
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return prefixes;
}

/** Every object under `prefix`, a LIST page (≤ 1,000 keys) at a time, from after `startAfter`. */
export async function* objectPages(storage: Storage, prefix: string, startAfter?: string): AsyncGenerator<_Object[]> {
  let token: string | undefined;
  do {
    const page = await storage.s3.send(
      new ListObjectsV2Command({ Bucket: storage.env.bucketName, Prefix: prefix, ...(token === undefined ? (startAfter === undefined ? {} : { StartAfter: startAfter }) : { ContinuationToken: token }) }),
    );
    if ((page.Contents ?? []).length > 0) yield page.Contents as _Object[];
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
}

/** Every object under `prefix` (tests and small prefixes only: it holds the whole listing). */
export async function listObjects(storage: Storage, prefix: string): Promise<_Object[]> {
  const objects: _Object[] = [];
  for await (const page of objectPages(storage, prefix)) objects.push(...page);
  return objects;
}

async function deleteKeys(storage: Storage, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    await storage.s3.send(new DeleteObjectsCommand({ Bucket: storage.env.bucketName, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
  }
}

/** Deletes objects under `prefix` that are not in `referenced` and older than the grace period. */
export async function deleteOrphans(storage: Storage, prefix: string, referenced: ReadonlySet<string>, nowMs: number, graceMs: number): Promise<number> {
  let deleted = 0;
  for await (const page of objectPages(storage, prefix)) {
    const orphans = page.filter((o) => o.Key !== undefined && !referenced.has(o.Key) && (o.LastModified?.getTime() ?? nowMs) < nowMs - graceMs).map((o) => o.Key as string);
    await deleteKeys(storage, orphans);
    deleted += orphans.length;
  }
  return deleted;
}

export interface SweepStep {
  /** Orphans deleted by this step. */
  deleted: number;
  /** The key the sweep continues after; undefined when the listing is exhausted. */
  afterKey: string | undefined;
}

/**
 * One bounded step of the incremental orphan sweep of a partition's prefix: lists at most
 * `maxPages` LIST pages after `afterKey` (stopping earlier at `deadlineMs`), then reads the
 * whole index and the pending deletions once to strike out every listed object that one of
 * them names, and deletes the rest that are older than the grace period. Memory is bounded
 * by the pages listed, never by the log's length. `onEntry` sees every index entry read
 * (the lifecycle check rides on this read).
 *
 * Why no entry is missed: the index is read after the listing, and an entry can name an
 * object older than the grace period only if it was committed within a Lambda's lifetime of
 * the object's PUT, long before; an entry that a merge, retention or key compaction removes
 * meanwhile leaves a pending deletion in the same transaction, and those are read last,
 * consistently.
 */
export async function sweepOrphans(
  storage: Storage,
  prefix: string,
  readReferences: (visit: (objectKey: string) => void) => Promise<void>,
  options: { afterKey: string | undefined; maxPages: number; deadlineMs: number; clock: () => number; graceMs: number; beforeDeletes?: () => Promise<void> },
): Promise<SweepStep> {
  const candidates = new Set<string>();
  let afterKey = options.afterKey;
  let exhausted = true;
  let pages = 0;
  for await (const page of objectPages(storage, prefix, afterKey)) {
    const cutoff = options.clock() - options.graceMs;
    for (const object of page) {
      if (object.Key === undefined) continue;
      if ((object.LastModified?.getTime() ?? Number.POSITIVE_INFINITY) < cutoff) candidates.add(object.Key);
      afterKey = object.Key;
    }
    pages++;
    if (pages >= options.maxPages || options.clock() >= options.deadlineMs) {
      exhausted = false;
      break;
    }
  }
  await readReferences((key) => candidates.delete(key));
  if (candidates.size > 0) await options.beforeDeletes?.();
  await deleteKeys(storage, [...candidates]);
  return { deleted: candidates.size, afterKey: exhausted ? undefined : afterKey };
}

/**
 * Walks `data/<topic>/<partition>/<topicId>/` and deletes, past the grace period, every
 * incarnation that `liveTopicId(topic)` does not name.
 */
export async function deleteDeadIncarnations(storage: Storage, liveTopicId: (topic: string) => string | undefined, nowMs: number, graceMs: number): Promise<number> {
  let deleted = 0;
  for (const topicPrefix of await listPrefixes(storage, DATA_PREFIX)) {
    const topic = topicPrefix.slice(DATA_PREFIX.length, -1);
    const live = liveTopicId(topic);
    for (const partitionPrefix of await listPrefixes(storage, topicPrefix)) {
      for (const incarnation of await listPrefixes(storage, partitionPrefix)) {
        if (incarnation.slice(partitionPrefix.length, -1) === live) continue;
        deleted += await deleteOrphans(storage, incarnation, new Set(), nowMs, graceMs);
      }
    }
  }
  return deleted;
}
