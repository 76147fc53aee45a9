import { BatchGetCommand, type BatchGetCommandOutput, DeleteCommand, PutCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';
import { cancellationReasons, isConditionFailure, itemDoesNotExist } from '../storage/conditions.ts';
import { notBeingDeleted } from './delete-hold.ts';
import { decodePartitions, encodePartitions } from './partition-sets.ts';
import { GROUPS_PK, groupPk, MEMBER_SK_PREFIX, memberSk, META_SK, registrySk, TARGET_SK, type GroupMeta, type GroupMetaItem, type GroupTargetItem, type Member, type MemberItem } from './schema.ts';

/** The group as one consistent Query reads it. */
export interface GroupRead {
  meta: GroupMeta | undefined;
  members: Member[];
}

/** META and its TARGET as read; `target` undefined for an item from before the split (inline target). */
export function metaFromItem(item: GroupMetaItem, targetItem?: GroupTargetItem): GroupMeta {
  const names = item.topics.map((t) => t.name);
  const topicOf = (ref: string) => names[Number(ref)] as string;
  const legacy = item.targetVersion === undefined;
  // A TARGET of another version is a leftover (e.g. of a deleted group): not this META's.
  const stored = legacy ? (item.target ?? []) : targetItem !== undefined && targetItem.version === item.targetVersion ? targetItem.target : [];
  return {
    group: item.group,
    groupEpoch: item.groupEpoch,
    assignmentEpoch: item.assignmentEpoch,
    assignor: item.assignor,
    topics: item.topics,
    target: new Map(stored.map((t) => [t.memberId, decodePartitions(t.partitions, topicOf)])),
    sessionTimeoutMs: item.sessionTimeoutMs,
    heartbeatIntervalMs: item.heartbeatIntervalMs,
    subscribedNames: item.subscribedNames ?? [],
    subscribedRegexes: item.subscribedRegexes ?? [],
    // Older items: a full read is due now, and it writes the missing fields.
    nextSweepAtMs: item.nextSweepAtMs ?? 0,
    emptySinceMs: item.emptySinceMs ?? 0,
    // An inline target is moved to its own item by the next META write (version + 1).
    targetVersion: item.targetVersion ?? item.version + 1,
    version: item.version,
  };
}

/** META as stored (without the target: see targetToItem). */
export function metaToItem(meta: GroupMeta): GroupMetaItem {
  return {
    pk: groupPk(meta.group),
    sk: META_SK,
    group: meta.group,
    groupEpoch: meta.groupEpoch,
    assignmentEpoch: meta.assignmentEpoch,
    assignor: meta.assignor,
    topics: meta.topics,
    sessionTimeoutMs: meta.sessionTimeoutMs,
    heartbeatIntervalMs: meta.heartbeatIntervalMs,
    subscribedNames: meta.subscribedNames,
    subscribedRegexes: meta.subscribedRegexes,
    nextSweepAtMs: meta.nextSweepAtMs,
    emptySinceMs: meta.emptySinceMs,
    targetVersion: meta.targetVersion,
    version: meta.version,
  };
}

/** The target as stored, encoded with META's topic-table indexes. */
export function targetToItem(meta: GroupMeta): GroupTargetItem {
  const index = new Map(meta.topics.map((t, i) => [t.name, String(i)]));
  return {
    pk: groupPk(meta.group),
    sk: TARGET_SK,
    version: meta.targetVersion,
    target: [...meta.target].map(([memberId, keys]) => ({ memberId, partitions: encodePartitions(keys, (topic) => index.get(topic) as string) })),
  };
}

/** META and its TARGET, for writing a group directly (tests and benchmarks build large groups this way). */
export function metaItems(meta: GroupMeta): [GroupMetaItem, GroupTargetItem] {
  return [metaToItem(meta), targetToItem(meta)];
}

export function memberFromItem(item: MemberItem): Member {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return { ...rest, assigned: decodePartitions(item.assigned), revoking: decodePartitions(item.revoking) };
}

export function memberToItem(group: string, member: Member): MemberItem {
  return { ...member, pk: groupPk(group), sk: memberSk(member.memberId), assigned: encodePartitions(member.assigned), revoking: encodePartitions(member.revoking) };
}

/**
 * Reads META, the target and every member in one Query (paged: a 500-member group is about
 * 1 MB at most). A Query is read-committed, not isolated from a transaction in flight, so a
 * TARGET that does not belong to the META read with it is read again.
 */
export async function readGroup(storage: Storage, group: string): Promise<GroupRead> {
  for (let attempt = 0; ; attempt++) {
    let metaItem: GroupMetaItem | undefined;
    let targetItem: GroupTargetItem | undefined;
    const members: Member[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await storage.ddb.send(
        new QueryCommand({ TableName: storage.env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': groupPk(group) }, ConsistentRead: true, ExclusiveStartKey: startKey }),
      );
      for (const item of page.Items ?? []) {
        if (item.sk === META_SK) metaItem = item as GroupMetaItem;
        else if (item.sk === TARGET_SK) targetItem = item as GroupTargetItem;
        else if (String(item.sk).startsWith(MEMBER_SK_PREFIX)) members.push(memberFromItem(item as MemberItem));
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    // (targetVersion 0: no target written yet, e.g. a group being created or deleted.)
    const torn = metaItem?.targetVersion !== undefined && metaItem.targetVersion > 0 && targetItem?.version !== metaItem.targetVersion;
    if (!torn || attempt >= 5) return { meta: metaItem === undefined ? undefined : metaFromItem(metaItem, targetItem), members };
  }
}

/** What a steady heartbeat reads: META (without the target) and the member's own item, in one request. */
export async function readMetaAndMember(storage: Storage, group: string, memberId: string): Promise<{ meta: GroupMeta | undefined; member: Member | undefined }> {
  const TableName = storage.env.tableName;
  const keys = [{ pk: groupPk(group), sk: META_SK }, { pk: groupPk(group), sk: memberSk(memberId) }];
  let items: Array<Record<string, unknown>> = [];
  let request: Record<string, { Keys: Array<Record<string, unknown>>; ConsistentRead: boolean }> | undefined = { [TableName]: { Keys: keys, ConsistentRead: true } };
  // BatchGetItem may return some keys unprocessed under load; two items, so a few rounds at most.
  for (let round = 0; request !== undefined && round < 10; round++) {
    const result: BatchGetCommandOutput = await storage.ddb.send(new BatchGetCommand({ RequestItems: request }));
    items = [...items, ...(result.Responses?.[TableName] ?? [])];
    const unprocessed = result.UnprocessedKeys?.[TableName];
    request = unprocessed?.Keys === undefined || unprocessed.Keys.length === 0 ? undefined : { [TableName]: { Keys: unprocessed.Keys, ConsistentRead: true } };
  }
  const metaItem = items.find((i) => i.sk === META_SK) as GroupMetaItem | undefined;
  const memberItem = items.find((i) => i.sk === memberSk(memberId)) as MemberItem | undefined;
  return { meta: metaItem === undefined ? undefined : metaFromItem(metaItem), member: memberItem === undefined ? undefined : memberFromItem(memberItem) };
}

/** A change to another member's item, made only if it has not heartbeated since it was read. */
export interface MemberChange {
  read: Member;
  /** The new item (a fenced tombstone), or undefined to delete it. */
  next: Member | undefined;
  /** Delete whatever its state (the requester leaving). */
  unconditional?: boolean;
}

/** What a heartbeat writes; see reconcile.ts. */
export interface GroupWrite {
  group: string;
  /** Version of META as read (undefined: the group did not exist). */
  readVersion: number | undefined;
  /** The new META, or undefined when it is unchanged. */
  meta: GroupMeta | undefined;
  /** The requester's new item, and its item as read. */
  member: { next: Member; read: Member | undefined } | undefined;
  others: MemberChange[];
}

const unchangedSince = 'expiresAtMs = :readExpires AND assignmentVersion = :readVersion';
function unchangedValues(read: Member): Record<string, unknown> {
  return { ':readExpires': read.expiresAtMs, ':readVersion': read.assignmentVersion };
}

/** True when the write went through; false when the state changed since it was read. */
export async function writeGroup(storage: Storage, write: GroupWrite): Promise<boolean> {
  const TableName = storage.env.tableName;
  const memberPut = (change: { next: Member; read: Member | undefined }) => ({
    TableName,
    Item: memberToItem(write.group, change.next),
    ...(change.read === undefined ? { ConditionExpression: itemDoesNotExist } : { ConditionExpression: unchangedSince, ExpressionAttributeValues: unchangedValues(change.read) }),
  });
  if (write.meta === undefined && write.member === undefined && write.others.length === 0) return true;
  try {
    if (write.meta === undefined && write.others.length === 0 && write.member !== undefined) {
      // Steady state: only the member's own item changes.
      await storage.ddb.send(new PutCommand(memberPut(write.member)));
      return true;
    }
    if (write.meta === undefined && write.member === undefined && write.others.length === 1 && write.others[0]?.unconditional === true) {
      await storage.ddb.send(new DeleteCommand({ TableName, Key: { pk: groupPk(write.group), sk: memberSk(write.others[0].read.memberId) } }));
      return true;
    }
    const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [];
    if (write.meta !== undefined) {
      items.push({
        Put: {
          TableName,
          Item: metaToItem(write.meta),
          // A deletion's hold (delete-hold.ts) makes a join wait until the group is gone.
          ...(write.readVersion === undefined ? { ConditionExpression: itemDoesNotExist } : { ConditionExpression: `version = :version AND ${notBeingDeleted}`, ExpressionAttributeValues: { ':version': write.readVersion, ':now': Date.now() } }),
        },
      });
      if (write.readVersion === undefined) items.push({ Put: { TableName, Item: { pk: GROUPS_PK, sk: registrySk(write.group), group: write.group } } });
      // META's condition guards the target too; it is written only when it changed.
      if (write.meta.targetVersion === write.meta.version) items.push({ Put: { TableName, Item: targetToItem(write.meta) } });
    }
    if (write.member !== undefined) items.push({ Put: memberPut(write.member) });
    for (const change of write.others) {
      if (change.read.memberId === write.member?.next.memberId) continue;
      const condition = change.unconditional === true ? {} : { ConditionExpression: unchangedSince, ExpressionAttributeValues: unchangedValues(change.read) };
      if (change.next === undefined) items.push({ Delete: { TableName, Key: { pk: groupPk(write.group), sk: memberSk(change.read.memberId) }, ...condition } });
      else items.push({ Put: { TableName, Item: memberToItem(write.group, change.next), ...condition } });
    }
    await storage.ddb.send(new TransactWriteCommand({ TransactItems: items }));
    return true;
  } catch (error) {
    if (isConditionFailure(error) || cancellationReasons(error) !== undefined) return false;
    throw error;
  }
}
