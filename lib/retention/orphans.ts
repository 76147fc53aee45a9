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

/** Every object under `prefix`. */
export async function listObjects(storage: Storage, prefix: string): Promise<_Object[]> {
  const objects: _Object[] = [];
  let token: string | undefined;
  do {
    const page = await storage.s3.send(new ListObjectsV2Command({ Bucket: storage.env.bucketName, Prefix: prefix, ContinuationToken: token }));
    objects.push(...(page.Contents ?? []));
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return objects;
}

async function deleteKeys(storage: Storage, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    await storage.s3.send(new DeleteObjectsCommand({ Bucket: storage.env.bucketName, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
  }
}

/** Deletes objects under `prefix` that are not in `referenced` and older than the grace period. */
export async function deleteOrphans(storage: Storage, prefix: string, referenced: ReadonlySet<string>, nowMs: number, graceMs: number): Promise<number> {
  const orphans = (await listObjects(storage, prefix))
    .filter((o) => o.Key !== undefined && !referenced.has(o.Key) && (o.LastModified?.getTime() ?? nowMs) < nowMs - graceMs)
    .map((o) => o.Key as string);
  await deleteKeys(storage, orphans);
  return orphans.length;
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
