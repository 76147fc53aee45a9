/**
 * Committed-offset retention, Kafka's `offsets.retention.minutes` with KIP-211's rule: a
 * group's offsets never expire while it has members; once it is empty they expire after the
 * retention period. DynamoDB's TTL does the deleting (free of write cost), so every offset
 * item carries `expiresAt`, and the work is to keep it in the future while the group lives.
 *
 * Why not "stamp the expiry when the group becomes empty, clear it on join"? A group mostly
 * becomes empty by its last lease running out, and no request runs at that moment; it would
 * need a sweeper, and 2 writes per offset on every empty↔live transition. Instead:
 *
 *   every write of an offset (commit, reset)   expiresAt := now + retention + 2·refresh
 *   while members heartbeat, a refresh cycle   re-stamps every offset the same way, one page
 *   starts at most every `refresh`             per heartbeat (RETENTION_SK holds the cursor)
 *
 *   ──live──┬─cycle─┬──────live──────┬─cycle─┬──live──┤ empty at T ······ expired
 *           c₁      c₁+D              c₂ ≤ c₁+refresh  T      T+retention ≤ expiry ≤ T+retention+2·refresh
 *
 * An item was last stamped at s ≥ T − refresh − D (the last cycle before T), so it expires no
 * earlier than T + retention (given D, a cycle's length, under `refresh`) and no later than
 * T + retention + 2·refresh. Cost: a live group's idle offsets are re-stamped twice a day (one
 * write each; committed ones are re-stamped by their commits anyway), a steady heartbeat pays
 * nothing (a per-process gate), and the first heartbeat a process sees of a group one GetItem.
 *
 * DynamoDB deletes an expired item up to days late, so every read treats an item whose
 * `expiresAt` has passed as absent, and a refresh never revives one that expired before its
 * cycle began.
 */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { OFFSETS } from '../config/defaults.ts';
import type { Storage } from '../storage/clients.ts';
import { isConditionFailure, itemDoesNotExist } from '../storage/conditions.ts';
import { TTL_ATTRIBUTE } from '../storage/provision.ts';
import { offsetsPk } from './schema.ts';

/** The retention in force; tests shorten it. */
export interface RetentionOptions {
  retentionMs: number;
  refreshIntervalMs: number;
  /** Offsets re-stamped per heartbeat at most. */
  pageSize: number;
}

export const DEFAULT_RETENTION: RetentionOptions = { retentionMs: OFFSETS.retentionMinutes * 60_000, refreshIntervalMs: OFFSETS.refreshIntervalMs, pageSize: OFFSETS.refreshPageSize };

/** Sort key, under GOFF#<group>, of the refresh cycle's marker (offset keys always hold '#'). */
export const RETENTION_SK = 'RETENTION';

/** The refresh cycle's state, one per group. */
interface RetentionMarker {
  pk: string;
  sk: typeof RETENTION_SK;
  /** When the current (or last) cycle began. */
  cycleStartedAtMs: number;
  /** Sort key of the last offset the cycle re-stamped; absent once the cycle is done. */
  cursor?: string;
  /** Epoch seconds: the marker goes with the offsets it kept. */
  [TTL_ATTRIBUTE]: number;
}

/** The TTL (epoch seconds) an offset written or re-stamped at `nowMs` gets. */
export function offsetExpiresAt(nowMs: number, options: RetentionOptions = DEFAULT_RETENTION): number {
  return Math.ceil((nowMs + options.retentionMs + 2 * options.refreshIntervalMs) / 1000);
}

/** True once an item's TTL has passed: it reads as absent, whether or not DynamoDB removed it yet. */
export function isExpired(item: { [TTL_ATTRIBUTE]?: unknown }, nowMs: number): boolean {
  const expiresAt = item[TTL_ATTRIBUTE];
  return typeof expiresAt === 'number' && expiresAt * 1000 <= nowMs;
}

/**
 * Per process and group, when the next cycle can be due: steady heartbeats cost nothing.
 * Never later than the cycle's true due time, so the bound above holds on every instance.
 */
const nextCheckAtMs = new Map<string, number>();

/** Forgets the process's gate of `group` (it was deleted). */
export function forgetRetention(group: string): void {
  nextCheckAtMs.delete(group);
}

/**
 * Called after an accepted heartbeat of a live member: if the group's refresh cycle is due or
 * under way, re-stamps one page of its offsets. Losing a race to another instance only
 * repeats a page (the re-stamp is idempotent).
 */
export async function keepOffsetsAlive(storage: Storage, group: string, nowMs = Date.now(), options: RetentionOptions = DEFAULT_RETENTION): Promise<void> {
  if ((nextCheckAtMs.get(group) ?? 0) > nowMs) return;
  const TableName = storage.env.tableName;
  const pk = offsetsPk(group);
  const marker = (await storage.ddb.send(new GetCommand({ TableName, Key: { pk, sk: RETENTION_SK }, ConsistentRead: true }))).Item as RetentionMarker | undefined;
  if (marker !== undefined && marker.cursor === undefined && marker.cycleStartedAtMs + options.refreshIntervalMs > nowMs) {
    nextCheckAtMs.set(group, marker.cycleStartedAtMs + options.refreshIntervalMs);
    return;
  }
  const cycleStartedAtMs = marker?.cursor === undefined ? nowMs : marker.cycleStartedAtMs;
  const page = await storage.ddb.send(
    new QueryCommand({
      TableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ConsistentRead: true,
      Limit: options.pageSize,
      ...(marker?.cursor === undefined ? {} : { ExclusiveStartKey: { pk, sk: marker.cursor } }),
    }),
  );
  const expiresAt = offsetExpiresAt(nowMs, options);
  const keys = (page.Items ?? []).map((i) => String(i.sk)).filter((sk) => sk !== RETENTION_SK);
  for (let i = 0; i < keys.length; i += 25) await Promise.all(keys.slice(i, i + 25).map((sk) => restamp(storage, pk, sk, expiresAt, cycleStartedAtMs)));
  const cursor = page.LastEvaluatedKey === undefined ? undefined : String(page.LastEvaluatedKey.sk);
  const next: RetentionMarker = { pk, sk: RETENTION_SK, cycleStartedAtMs, ...(cursor === undefined ? {} : { cursor }), [TTL_ATTRIBUTE]: expiresAt };
  try {
    await storage.ddb.send(
      new PutCommand({
        TableName,
        Item: next,
        ...(marker === undefined
          ? { ConditionExpression: itemDoesNotExist }
          : {
              ConditionExpression: marker.cursor === undefined ? 'cycleStartedAtMs = :started AND attribute_not_exists(#cursor)' : 'cycleStartedAtMs = :started AND #cursor = :cursor',
              ExpressionAttributeNames: { '#cursor': 'cursor' },
              ExpressionAttributeValues: { ':started': marker.cycleStartedAtMs, ...(marker.cursor === undefined ? {} : { ':cursor': marker.cursor }) },
            }),
      }),
    );
  } catch (error) {
    // Another instance moved the cycle on meanwhile: this page was done twice, nothing lost.
    if (!isConditionFailure(error)) throw error;
  }
  if (cursor === undefined) nextCheckAtMs.set(group, cycleStartedAtMs + options.refreshIntervalMs);
  else nextCheckAtMs.delete(group);
}

/**
 * Pushes one offset's TTL to `expiresAt`: never revives an item that had expired before the
 * cycle began (the group was empty then), never shortens one a newer commit stamped, and never
 * re-creates an item deleted meanwhile.
 */
async function restamp(storage: Storage, pk: string, sk: string, expiresAt: number, cycleStartedAtMs: number): Promise<void> {
  try {
    await storage.ddb.send(
      new UpdateCommand({
        TableName: storage.env.tableName,
        Key: { pk, sk },
        UpdateExpression: 'SET #ttl = :expiresAt',
        ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#ttl) OR (#ttl > :cycleStart AND #ttl < :expiresAt))',
        ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':expiresAt': expiresAt, ':cycleStart': Math.floor(cycleStartedAtMs / 1000) },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}
