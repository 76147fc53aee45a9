/**
 * Waiting drafts: a writer that lost the race for a partition's head leaves its draft (an
 * object already in S3, not yet given offsets) in the table, where the next transaction to
 * win on that partition adopts it; the writer learns its offsets from the item.
 *
 *   P#<topicId>#<partition>  W#<createdAtMs:13 digits>#<uuid>   draft fields, expiresAtMs,
 *                                                                 baseOffset once committed
 *
 * Stored invariant: `baseOffset` is set, once, by the transaction that commits the draft and
 * advances the head past it; an item with `baseOffset` is never committed again (every
 * commit of a waiting draft is conditioned on its absence). An item without it is adopted
 * only before `expiresAtMs`. The writer removes its item once it has learnt the outcome;
 * a crashed writer's item is removed by any reader once expired.
 */
import { randomUUID } from 'node:crypto';
import { BatchWriteCommand, DeleteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { SEQUENCER } from '../config/defaults.ts';
import type { Storage } from '../storage/clients.ts';
import { isConditionFailure } from '../storage/conditions.ts';
import { backoffDelayMs, sleep } from '../retry.ts';
import { TTL_ATTRIBUTE } from '../storage/provision.ts';
import { log } from '../observability/logger.ts';
import type { SegmentDraft } from './commit-writes.ts';

export const WAITING_PREFIX = 'W#';

/** A draft left in the table by a writer that lost a race. */
export interface WaitingDraft {
  sk: string;
  draft: SegmentDraft;
  createdAtMs: number;
  /** Adoptable only before this time (the adopting writer's clock). */
  expiresAtMs: number;
  /** Set once committed: the draft's first offset. */
  baseOffset?: number;
}

/** Longest a reader waits after expiry before removing a crashed writer's item. */
const REMOVAL_MARGIN_MS = 60_000;
/** Waiting drafts one look reads at most (one Query page); the oldest come first. */
const LOOK_LIMIT = 100;

/** BatchWriteItem takes at most 25 requests (an AWS limit). */
const BATCH_WRITE_LIMIT = 25;

/**
 * Leaves `drafts` in the table for the next winner to adopt; returns them as stored. Plain
 * puts (BatchWriteItem): each key holds a fresh UUID, so nothing can be overwritten.
 */
export async function leaveDrafts(storage: Storage, pk: string, drafts: readonly SegmentDraft[], now = Date.now()): Promise<WaitingDraft[]> {
  const waiting = drafts.map((draft): WaitingDraft => ({ sk: `${WAITING_PREFIX}${String(now).padStart(13, '0')}#${randomUUID()}`, draft, createdAtMs: now, expiresAtMs: now + SEQUENCER.waitingDraftExpiryMs }));
  await batchWrite(storage, waiting.map((w) => ({ PutRequest: { Item: itemOf(pk, w) } })));
  return waiting;
}

function itemOf(pk: string, waiting: WaitingDraft): Record<string, unknown> {
  const { producer, ...fields } = waiting.draft;
  return {
    pk,
    sk: waiting.sk,
    ...fields,
    ...(producer === undefined
      ? {}
      : { producerId: String(producer.producerId), producerEpoch: producer.producerEpoch, firstSequence: producer.firstSequence, lastSequence: producer.lastSequence }),
    createdAtMs: waiting.createdAtMs,
    expiresAtMs: waiting.expiresAtMs,
    [TTL_ATTRIBUTE]: Math.ceil((waiting.expiresAtMs + REMOVAL_MARGIN_MS) / 1000),
  };
}

/** BatchWriteItem in chunks of 25, resending what DynamoDB left unprocessed. */
async function batchWrite(storage: Storage, requests: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  for (let i = 0; i < requests.length; i += BATCH_WRITE_LIMIT) {
    let chunk: unknown = requests.slice(i, i + BATCH_WRITE_LIMIT);
    for (let attempt = 0; Array.isArray(chunk) && chunk.length > 0; attempt++) {
      if (attempt > 0) await sleep(backoffDelayMs(attempt, { baseMs: 10, capMs: 200 }));
      const result = await storage.ddb.send(new BatchWriteCommand({ RequestItems: { [storage.env.tableName]: chunk as never } }));
      chunk = result.UnprocessedItems?.[storage.env.tableName];
    }
  }
}

/**
 * The partition's waiting drafts, oldest first (at most LOOK_LIMIT), committed or not.
 * Eventually consistent: a stale view only costs a failed condition. Removes expired
 * items of crashed writers on the way (best effort).
 */
export async function lookForWaiting(storage: Storage, pk: string, now = Date.now()): Promise<WaitingDraft[]> {
  const page = await storage.ddb.send(
    new QueryCommand({
      TableName: storage.env.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': WAITING_PREFIX },
      Limit: LOOK_LIMIT,
    }),
  );
  const found = (page.Items ?? []).map(waitingFromItem);
  const dead = found.filter((w) => w.expiresAtMs + REMOVAL_MARGIN_MS < now);
  if (dead.length > 0) await removeDead(storage, pk, dead);
  return found.filter((w) => !dead.includes(w));
}

/**
 * Removes the waiting items of writers that have learnt their outcome. Not conditioned:
 * once committed, an item only carries the offset its writer has just read.
 */
export async function removeWaiting(storage: Storage, pk: string, sks: readonly string[]): Promise<void> {
  try {
    await batchWrite(storage, sks.map((sk) => ({ DeleteRequest: { Key: { pk, sk } } })));
  } catch (error) {
    // Harmless: a committed item is never adopted again, and readers remove it once expired.
    log().warn('Could not remove committed waiting drafts', { pk, count: sks.length, error: String(error) });
  }
}

/**
 * Takes a waiting draft back, so no transaction can commit it any more. Returns undefined
 * when withdrawn (or already gone), or the base offset a transaction committed it at first.
 */
export async function withdrawDraft(storage: Storage, pk: string, sk: string): Promise<number | undefined> {
  try {
    await storage.ddb.send(
      new DeleteCommand({ TableName: storage.env.tableName, Key: { pk, sk }, ConditionExpression: 'attribute_not_exists(baseOffset)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }),
    );
    return undefined;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const item = (error as { Item?: Record<string, { N?: string }> }).Item;
    const base = item?.baseOffset?.N;
    if (base === undefined) throw new Error(`Waiting draft ${sk} could not be withdrawn and reports no offset`);
    return Number(base);
  }
}

/**
 * The transaction item that commits a waiting draft at `base`: only if it is still there
 * and uncommitted, and, when adopted by another writer, not expired by `now`. ALL_OLD tells
 * a loser of this condition who committed it at which offset.
 */
export function commitWaiting(storage: Storage, pk: string, sk: string, base: number, adoptedAtMs?: number): Record<string, unknown> {
  const live = 'attribute_exists(pk) AND attribute_not_exists(baseOffset)';
  return {
    Update: {
      TableName: storage.env.tableName,
      Key: { pk, sk },
      UpdateExpression: 'SET baseOffset = :base',
      ConditionExpression: adoptedAtMs === undefined ? live : `${live} AND expiresAtMs > :now`,
      ExpressionAttributeValues: { ':base': base, ...(adoptedAtMs === undefined ? {} : { ':now': adoptedAtMs }) },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    },
  };
}

/** The base offset in a waiting item's ALL_OLD image (AttributeValue map), if committed. */
export function committedBaseOf(item: Record<string, unknown> | undefined): number | undefined {
  const n = (item?.baseOffset as { N?: string } | undefined)?.N;
  return n === undefined ? undefined : Number(n);
}

function waitingFromItem(item: Record<string, unknown>): WaitingDraft {
  const n = (name: string) => item[name] as number;
  const draft: SegmentDraft = {
    partition: n('partition'),
    objectKey: item.objectKey as string,
    byteStart: n('byteStart'),
    byteLength: n('byteLength'),
    offsetCount: n('offsetCount'),
    recordCount: n('recordCount'),
    batchCount: n('batchCount'),
    maxTimestamp: n('maxTimestamp'),
    expireDays: n('expireDays'),
    ...(typeof item.producerId === 'string'
      ? { producer: { producerId: BigInt(item.producerId), producerEpoch: n('producerEpoch'), firstSequence: n('firstSequence'), lastSequence: n('lastSequence') } }
      : {}),
    ...(typeof item.logAppendTimeMs === 'number' ? { logAppendTimeMs: item.logAppendTimeMs } : {}),
  };
  return { sk: item.sk as string, draft, createdAtMs: n('createdAtMs'), expiresAtMs: n('expiresAtMs'), ...(typeof item.baseOffset === 'number' ? { baseOffset: item.baseOffset } : {}) };
}

/** Expired and past the margin: no writer waits for them and no adopter accepts them. */
async function removeDead(storage: Storage, pk: string, dead: readonly WaitingDraft[]): Promise<void> {
  try {
    await batchWrite(storage, dead.map((w) => ({ DeleteRequest: { Key: { pk, sk: w.sk } } })));
  } catch (error) {
    log().warn('Could not remove expired waiting drafts', { pk, count: dead.length, error: String(error) });
  }
}
