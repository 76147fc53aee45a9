import { createHash, randomBytes } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { Sluice, type ConsumedMessage, type ConsumerOptions, type ProducerOptions } from '../../lib/client/index.ts';
import { claimBlobs, findReferences } from '../../lib/blobs/claims.ts';
import { CLAIM_CHECK_HEADER, encodeReference, parseReference } from '../../lib/blobs/reference.ts';
import { appendBatches } from '../../lib/log/append.ts';
import { buildBatches } from '../../lib/log/batching.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { compactTopicPartition } from '../../lib/retention/compact.ts';
import { api, startTestStack } from '../support/stack.ts';
import { createTopic } from '../client/helpers.ts';

let stack: LocalStack;
let sluice: Sluice;
beforeAll(async () => {
  stack = await startTestStack();
  sluice = new Sluice({ url: stack.url });
});
afterAll(async () => {
  await stack?.close();
});

async function produce(topic: string, messages: Array<{ key?: string; value: Buffer | string; timestamp?: number }>, options: ProducerOptions = {}): Promise<Array<{ partition: number; offset: number }>> {
  const producer = sluice.producer(options);
  try {
    return await producer.send({ topic, messages: messages.map((m) => ({ ...m, partition: 0 })) });
  } finally {
    await producer.disconnect();
  }
}

/** Consumes partition 0 from the start until `count` records arrived; rejects with the consumer's crash. */
async function consume(topic: string, count: number, options: ConsumerOptions = {}): Promise<ConsumedMessage[]> {
  const consumer = sluice.consumer({ maxWaitMs: 200, ...options });
  consumer.assign([{ topic, partitions: [0], fromBeginning: true }]);
  const messages: ConsumedMessage[] = [];
  let enough!: () => void;
  const reached = new Promise<void>((resolve) => (enough = resolve));
  await consumer.run({
    eachMessage: ({ message }) => {
      messages.push(message);
      if (messages.length >= count) enough();
    },
  });
  try {
    await Promise.race([reached, consumer.done(), new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${messages.length} of ${count} records in 20 s`)), 20_000))]);
  } finally {
    await consumer.stop();
  }
  return messages;
}

async function objectExists(key: string): Promise<boolean> {
  try {
    await stack.storage.s3.send(new HeadObjectCommand({ Bucket: stack.storage.env.bucketName, Key: key }));
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFound') return false;
    throw error;
  }
}

/** The reference the stored record at `offset` carries (read raw, without resolving). */
async function storedReference(topic: string, offset: number) {
  const [message] = await consume(topic, offset + 1, { resolveClaimChecks: false }).then((all) => all.slice(offset));
  expect(message?.headers[CLAIM_CHECK_HEADER]?.toString()).toBe('1');
  const reference = parseReference(message?.value ?? null);
  if (reference === undefined) throw new Error(`record ${offset} of ${topic} carries no reference`);
  return reference;
}

describe('claim check', () => {
  it('round-trips a 50 MiB value byte-identical through S3, while the log holds a reference under 1 KiB', async () => {
    await createTopic(stack.url, 'cc-big', 1);
    const value = randomBytes(50 * 1024 * 1024);
    const [landed] = await produce('cc-big', [{ key: 'k', value }, { key: 'small', value: 'inline' }]);
    expect(landed).toEqual({ topic: 'cc-big', partition: 0, offset: 0 });
    const [big, small] = await consume('cc-big', 2);
    expect(big?.value?.equals(value)).toBe(true);
    expect(big?.key?.toString()).toBe('k');
    expect(big?.headers[CLAIM_CHECK_HEADER]).toBeUndefined();
    expect(small?.value?.toString()).toBe('inline');
    const raw = await api(stack.url, 'GET', '/v1/topics/cc-big/partitions/0/records?offset=0');
    expect(raw.body.records[0].value.length).toBeLessThan(1024);
    expect(raw.body.records[0].headers[CLAIM_CHECK_HEADER]).toBe('1');
  });

  it('uploads a value above the part size in parallel parts (multipart) and reads it back', async () => {
    await createTopic(stack.url, 'cc-parts', 1);
    const value = randomBytes(12 * 1024 * 1024 + 17);
    await produce('cc-parts', [{ value }], { claimCheck: { thresholdBytes: 1024, partSizeBytes: 5 * 1024 * 1024 } });
    const [message] = await consume('cc-parts', 1);
    expect(message?.value?.equals(value)).toBe(true);
  });

  it('sends values at or under the threshold inline, and every value inline with claimCheck: false', async () => {
    await createTopic(stack.url, 'cc-inline', 1);
    await produce('cc-inline', [{ value: randomBytes(1000) }], { claimCheck: { thresholdBytes: 1000 } });
    await produce('cc-inline', [{ value: randomBytes(300 * 1024) }], { claimCheck: false });
    const messages = await consume('cc-inline', 2, { resolveClaimChecks: false });
    expect(messages.map((m) => [m.value?.length, m.headers[CLAIM_CHECK_HEADER]])).toEqual([
      [1000, undefined],
      [300 * 1024, undefined],
    ]);
  });

  it('refuses a tampered object with CORRUPT_MESSAGE', async () => {
    await createTopic(stack.url, 'cc-tamper', 1);
    await produce('cc-tamper', [{ value: randomBytes(300 * 1024) }]);
    const reference = await storedReference('cc-tamper', 0);
    await stack.storage.s3.send(new PutObjectCommand({ Bucket: stack.storage.env.bucketName, Key: reference.key, Body: randomBytes(reference.size) }));
    await expect(consume('cc-tamper', 1)).rejects.toMatchObject({ code: 'CORRUPT_MESSAGE' });
  });

  it('refuses a produce that references a blob never uploaded, with INVALID_RECORD', async () => {
    await createTopic(stack.url, 'cc-unknown', 1);
    const registered = await api(stack.url, 'POST', '/v1/topics/cc-unknown/blobs', { size: 10, sha256: 'a'.repeat(64) });
    expect(registered.status).toBe(201);
    const res = await api(stack.url, 'POST', '/v1/topics/cc-unknown/records', {
      records: [{ value: JSON.stringify({ id: registered.body.id, key: registered.body.key, size: 10, sha256: 'a'.repeat(64) }), headers: { [CLAIM_CHECK_HEADER]: '1' } }],
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('INVALID_RECORD');
  });

  it('deletes the blob a grace after retention removed its referencing record, and keeps it until then', async () => {
    await createTopic(stack.url, 'cc-retention', 1, { 'retention.ms': 3_600_000 });
    const now = Date.now();
    await produce('cc-retention', [{ value: randomBytes(300 * 1024), timestamp: now - 1_800_000 }]);
    await produce('cc-retention', [{ value: 'newer', timestamp: now }]);
    const reference = await storedReference('cc-retention', 0);
    const settings = { deleteGraceMs: 60_000, orphanGraceMs: 0, retentionCheckIntervalMs: 0 };
    // The orphan grace is over too: a referenced blob is never taken for an orphan.
    await compactTopicPartition(stack.storage, 'cc-retention', 0, { settings });
    expect(await objectExists(reference.key)).toBe(true);
    // Retention removes offset 0; the blob waits out the delete grace, then goes.
    const removed = await compactTopicPartition(stack.storage, 'cc-retention', 0, { settings, nowMs: now + 1_860_000 });
    expect(removed.logStartOffset).toBe(1);
    expect(await objectExists(reference.key)).toBe(true);
    await compactTopicPartition(stack.storage, 'cc-retention', 0, { settings, nowMs: now + 1_925_000 });
    expect(await objectExists(reference.key)).toBe(false);
    const located = await api(stack.url, 'GET', `/v1/topics/cc-retention/blobs/${reference.id}`);
    expect(located.status).toBe(404);
  });

  it('releases a blob when DeleteRecords moves the log start past its record, when key compaction drops its record, and when its topic is deleted', async () => {
    const settings = { deleteGraceMs: 0, orphanGraceMs: 3_600_000 };
    // DeleteRecords
    await createTopic(stack.url, 'cc-deleted', 1);
    await produce('cc-deleted', [{ value: randomBytes(300 * 1024) }, { value: 'after' }]);
    const deleted = await storedReference('cc-deleted', 0);
    expect((await api(stack.url, 'POST', '/v1/topics/cc-deleted/partitions/0/delete-records', { offset: 1 })).status).toBe(200);
    // DeleteRecords asks for a compaction of its own (default grace); ours runs once that one let go of the lease, past its grace.
    while (!(await compactTopicPartition(stack.storage, 'cc-deleted', 0, { settings, nowMs: Date.now() + 600_000 })).ran) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await objectExists(deleted.key)).toBe(false);
    // Key compaction: a newer record of the same key replaces the one that references the blob.
    await createTopic(stack.url, 'cc-compacted', 1, { 'cleanup.policy': 'compact' });
    await produce('cc-compacted', [{ key: 'k', value: randomBytes(300 * 1024) }]);
    await produce('cc-compacted', [{ key: 'k', value: 'replaced' }]);
    await produce('cc-compacted', [{ key: 'other', value: 'newest segment' }]);
    const compacted = await storedReference('cc-compacted', 0);
    await compactTopicPartition(stack.storage, 'cc-compacted', 0, { settings });
    await compactTopicPartition(stack.storage, 'cc-compacted', 0, { settings });
    expect(await objectExists(compacted.key)).toBe(false);
    // Topic deletion
    await createTopic(stack.url, 'cc-dropped', 1);
    await produce('cc-dropped', [{ value: randomBytes(300 * 1024) }]);
    const dropped = await storedReference('cc-dropped', 0);
    expect((await api(stack.url, 'DELETE', '/v1/topics/cc-dropped')).status).toBe(204);
    expect(await objectExists(dropped.key)).toBe(false);
  });

  it('keeps a blob whose produce crashed between its commit and recording the reference, until the record has left the log', async () => {
    await createTopic(stack.url, 'cc-crash', 1);
    const body = randomBytes(2048);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const registered = await api(stack.url, 'POST', '/v1/topics/cc-crash/blobs', { size: body.length, sha256 });
    expect((await fetch(registered.body.upload.url, { method: 'PUT', body })).status).toBe(200);
    const topic = await getTopic(stack.storage, 'cc-crash');
    const reference = { id: registered.body.id, key: registered.body.key, size: body.length, sha256 };
    const { parts } = await buildBatches(topic, [{ key: null, value: encodeReference(reference), headers: [{ key: CLAIM_CHECK_HEADER, value: Buffer.from('1') }], timestamp: Date.now(), partition: 0 }]);
    // The produce path up to its commit, then the crash: the reference is never recorded.
    await claimBlobs(stack.storage, topic, await findReferences(topic, parts));
    await appendBatches(stack.storage, topic, parts);
    await produce('cc-crash', [{ value: 'after' }]);
    const settings = { orphanGraceMs: 0, deleteGraceMs: 0 };
    const compactAt = async (nowMs: number) => {
      while (!(await compactTopicPartition(stack.storage, 'cc-crash', 0, { settings, nowMs })).ran) await new Promise((resolve) => setTimeout(resolve, 50));
    };
    // Long past the orphan grace and the claim's age, the claim stands for its record.
    await compactAt(Date.now() + 3_600_000);
    expect(await objectExists(reference.key)).toBe(true);
    // The record (offset 0) left the log; the claim became a reference at the high watermark it saw (2), so the blob stays a little longer, never less.
    expect((await api(stack.url, 'POST', '/v1/topics/cc-crash/partitions/0/delete-records', { offset: 1 })).status).toBe(200);
    await compactAt(Date.now() + 3_600_000);
    expect(await objectExists(reference.key)).toBe(true);
    await produce('cc-crash', [{ value: 'later' }]);
    expect((await api(stack.url, 'POST', '/v1/topics/cc-crash/partitions/0/delete-records', { offset: 3 })).status).toBe(200);
    await compactAt(Date.now() + 3_600_000);
    expect(await objectExists(reference.key)).toBe(false);
  });

  it('collects an uploaded blob that no record references once the orphan grace passed', async () => {
    await createTopic(stack.url, 'cc-orphan', 1);
    await produce('cc-orphan', [{ value: randomBytes(300 * 1024) }]);
    const kept = await storedReference('cc-orphan', 0);
    const body = randomBytes(2048);
    const registered = await api(stack.url, 'POST', '/v1/topics/cc-orphan/blobs', { size: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    const put = await fetch(registered.body.upload.url, { method: 'PUT', body });
    expect(put.status).toBe(200);
    expect(await objectExists(registered.body.key)).toBe(true);
    // Within the grace the orphan stays (a produce may still be about to reference it).
    await compactTopicPartition(stack.storage, 'cc-orphan', 0, { settings: { orphanGraceMs: 3_600_000 } });
    expect(await objectExists(registered.body.key)).toBe(true);
    await compactTopicPartition(stack.storage, 'cc-orphan', 0, { settings: { orphanGraceMs: 3_600_000 }, nowMs: Date.now() + 3_600_001 });
    expect(await objectExists(registered.body.key)).toBe(false);
    expect(await objectExists(kept.key)).toBe(true);
  });
});
