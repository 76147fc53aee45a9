/**
 * Kafka's DeleteGroups: removes an empty group's items (META, member items, committed offsets,
 * the registry entry); NON_EMPTY_GROUP while it has a live member, GROUP_ID_NOT_FOUND when
 * there is nothing to delete.
 *
 *   1. read the group: no live member, META at version v
 *   2. hold META (delete-hold.ts): version v → v + 1, deletingUntilMs := now + deleteHoldMs
 *      (a group with offsets only gets a META to hold); a join since step 1 fails this → 1
 *   3. remove member items (all dead), then every GOFF#<group> item (offsets, retention marker)
 *   4. one transaction: delete META if the hold is still ours, and the registry entry
 *
 * From step 2 on, a join's META write, a standalone commit and a reset fail their condition
 * (they retry: a heartbeat answers 429 after its attempts, and the client retries), and no
 * member can commit (none is live): nothing is added while step 3 removes. A crash leaves the
 * hold, which the next DeleteGroups takes over; after deleteHoldMs (beyond the function's
 * timeout, so a running deletion never loses it) a join clears it and the group lives on with
 * what step 3 had not yet removed. The TOFF#<topicId> index entries are left: they are hints
 * that deleting a topic follows, harmless when the offsets are gone.
 */
import { PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { OFFSETS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import type { Storage } from '../storage/clients.ts';
import { cancellationReasons, isConditionFailure, itemDoesNotExist } from '../storage/conditions.ts';
import { DELETE_HOLD_ATTRIBUTE } from './delete-hold.ts';
import { forgetRetention, isExpired, RETENTION_SK } from './offset-retention.ts';
import { deleteKeys, queryAll } from './offsets.ts';
import { isLive, newGroupMeta } from './reconcile.ts';
import { GROUPS_PK, groupPk, memberSk, META_SK, offsetsPk, registrySk } from './schema.ts';
import { metaToItem, readGroup, type GroupRead } from './store.ts';

/** Attempts at taking the hold when joins keep changing META (each then finds a live member). */
const HOLD_ATTEMPTS = 3;

/** True when the group has META, a member item, or a committed offset that has not expired. */
export async function groupExists(storage: Storage, group: string, read: GroupRead, nowMs: number): Promise<boolean> {
  if (read.meta !== undefined || read.members.length > 0) return true;
  let startKey: Record<string, unknown> | undefined;
  do {
    // Pages of 100: an empty group's expired offsets are few, and the first live one ends it.
    const page = await storage.ddb.send(
      new QueryCommand({ TableName: storage.env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': offsetsPk(group) }, ConsistentRead: true, Limit: 100, ExclusiveStartKey: startKey }),
    );
    if ((page.Items ?? []).some((i) => i.sk !== RETENTION_SK && !isExpired(i, nowMs))) return true;
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return false;
}

/** Holds META against joins (step 2); false when META changed since `read` (a join, most likely). */
async function hold(storage: Storage, group: string, read: GroupRead, untilMs: number): Promise<boolean> {
  const TableName = storage.env.tableName;
  try {
    if (read.meta === undefined) {
      await storage.ddb.send(new PutCommand({ TableName, Item: { ...metaToItem(newGroupMeta(group)), [DELETE_HOLD_ATTRIBUTE]: untilMs }, ConditionExpression: itemDoesNotExist }));
    } else {
      await storage.ddb.send(
        new UpdateCommand({
          TableName,
          Key: { pk: groupPk(group), sk: META_SK },
          UpdateExpression: 'SET #hold = :until, version = version + :one',
          ConditionExpression: 'version = :version',
          ExpressionAttributeNames: { '#hold': DELETE_HOLD_ATTRIBUTE },
          ExpressionAttributeValues: { ':until': untilMs, ':one': 1, ':version': read.meta.version },
        }),
      );
    }
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** Deletes the group; see the protocol above. */
export async function deleteGroup(storage: Storage, group: string, clock: () => number = Date.now): Promise<void> {
  const TableName = storage.env.tableName;
  for (let attempt = 1; ; attempt++) {
    const nowMs = clock();
    const read = await readGroup(storage, group);
    if (!(await groupExists(storage, group, read, nowMs))) throw new SluiceError('GROUP_ID_NOT_FOUND', `Group ${JSON.stringify(group)} does not exist`);
    const live = read.members.filter((m) => isLive(m, nowMs));
    if (live.length > 0) throw new SluiceError('NON_EMPTY_GROUP', `Group ${group} has ${live.length} live member(s); a group can be deleted only while it is empty`);
    // Wall-clock, as the joins that check it (store.ts) read it.
    const untilMs = Date.now() + OFFSETS.deleteHoldMs;
    if (!(await hold(storage, group, read, untilMs))) {
      if (attempt >= HOLD_ATTEMPTS) throw new SluiceError('THROTTLING_QUOTA_EXCEEDED', `Group ${group} kept changing while it was being deleted; retry`, { retryAfterSeconds: 1 });
      continue;
    }
    await deleteKeys(storage, read.members.map((m) => ({ pk: groupPk(group), sk: memberSk(m.memberId) })));
    // Bounded by the group's partitions (GROUPS.maxPartitions per incarnation of each topic).
    const offsets = await queryAll(storage, offsetsPk(group));
    await deleteKeys(storage, offsets.map((o) => ({ pk: o.pk, sk: o.sk })));
    try {
      await storage.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            { Delete: { TableName, Key: { pk: groupPk(group), sk: META_SK }, ConditionExpression: '#hold = :until', ExpressionAttributeNames: { '#hold': DELETE_HOLD_ATTRIBUTE }, ExpressionAttributeValues: { ':until': untilMs } } },
            { Delete: { TableName, Key: { pk: GROUPS_PK, sk: registrySk(group) } } },
          ],
        }),
      );
      forgetRetention(group);
      return;
    } catch (error) {
      if (cancellationReasons(error) === undefined) throw error;
      // The hold is no longer ours: a concurrent DeleteGroups took it over, or it lapsed and a
      // member joined. Read again: the group is gone, non-empty, or ours to hold once more.
      if (attempt >= HOLD_ATTEMPTS) throw new SluiceError('THROTTLING_QUOTA_EXCEEDED', `Group ${group} kept changing while it was being deleted; retry`, { retryAfterSeconds: 1 });
    }
  }
}
