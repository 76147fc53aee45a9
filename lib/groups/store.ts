import { DeleteCommand, PutCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';
import { cancellationReasons, isConditionFailure, itemDoesNotExist } from '../storage/conditions.ts';
import { notBeingDeleted } from './delete-hold.ts';
import { decodePartitions, encodePartitions } from './partition-sets.ts';
import { GROUPS_PK, groupPk, MEMBER_SK_PREFIX, memberSk, META_SK, registrySk, type GroupMeta, type GroupMetaItem, type Member, type MemberItem } from './schema.ts';

/** The group as one consistent Query reads it. */
export interface GroupRead {
  meta: GroupMeta | undefined;
  members: Member[];
}

export function metaFromItem(item: GroupMetaItem): GroupMeta {
  const names = item.topics.map((t) => t.name);
  const topicOf = (ref: string) => names[Number(ref)] as string;
  return {
    group: item.group,
    groupEpoch: item.groupEpoch,
    assignmentEpoch: item.assignmentEpoch,
    assignor: item.assignor,
    topics: item.topics,
    target: new Map(item.target.map((t) => [t.memberId, decodePartitions(t.partitions, topicOf)])),
    sessionTimeoutMs: item.sessionTimeoutMs,
    heartbeatIntervalMs: item.heartbeatIntervalMs,
    version: item.version,
  };
}

export function metaToItem(meta: GroupMeta): GroupMetaItem {
  const index = new Map(meta.topics.map((t, i) => [t.name, String(i)]));
  return {
    pk: groupPk(meta.group),
    sk: META_SK,
    group: meta.group,
    groupEpoch: meta.groupEpoch,
    assignmentEpoch: meta.assignmentEpoch,
    assignor: meta.assignor,
    topics: meta.topics,
    target: [...meta.target].map(([memberId, keys]) => ({ memberId, partitions: encodePartitions(keys, (topic) => index.get(topic) as string) })),
    sessionTimeoutMs: meta.sessionTimeoutMs,
    heartbeatIntervalMs: meta.heartbeatIntervalMs,
    version: meta.version,
  };
}

export function memberFromItem(item: MemberItem): Member {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return { ...rest, assigned: decodePartitions(item.assigned), revoking: decodePartitions(item.revoking) };
}

export function memberToItem(group: string, member: Member): MemberItem {
  return { ...member, pk: groupPk(group), sk: memberSk(member.memberId), assigned: encodePartitions(member.assigned), revoking: encodePartitions(member.revoking) };
}

/** Reads META and every member in one Query (paged: a 500-member group is about 1 MB at most). */
export async function readGroup(storage: Storage, group: string): Promise<GroupRead> {
  const read: GroupRead = { meta: undefined, members: [] };
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await storage.ddb.send(
      new QueryCommand({ TableName: storage.env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': groupPk(group) }, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    for (const item of page.Items ?? []) {
      if (item.sk === META_SK) read.meta = metaFromItem(item as GroupMetaItem);
      else if (String(item.sk).startsWith(MEMBER_SK_PREFIX)) read.members.push(memberFromItem(item as MemberItem));
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return read;
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
