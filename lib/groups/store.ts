import { QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';
import { cancellationReasons, isConditionFailure } from '../storage/conditions.ts';
import { GROUPS_PK, groupPk, memberSk, META_SK, registrySk, type GroupMetaItem, type MemberItem } from './schema.ts';

/** The group as one consistent Query reads it. */
export interface GroupRead {
  meta: GroupMetaItem | undefined;
  members: MemberItem[];
}

/** Reads META and every member in one Query. */
export async function readGroup(storage: Storage, group: string): Promise<GroupRead> {
  const items: Array<Record<string, unknown>> = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await storage.ddb.send(
      new QueryCommand({ TableName: storage.env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': groupPk(group) }, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return {
    meta: items.find((i) => i.sk === META_SK) as GroupMetaItem | undefined,
    members: items.filter((i) => String(i.sk).startsWith('M#')) as unknown as MemberItem[],
  };
}

/** What a heartbeat writes; see reconcile.ts. */
export interface GroupWrite {
  group: string;
  /** Version of META as read (undefined: the group did not exist). */
  readVersion: number | undefined;
  meta: GroupMetaItem | undefined;
  member: MemberItem | undefined;
  /** Member epoch as read, for the member's own condition (undefined: not a member before). */
  readMemberEpoch: number | undefined;
  removed: Array<{ memberId: string; expiresAtMs: number | undefined }>;
}

/** True when the write went through; false when the state changed since it was read. */
export async function writeGroup(storage: Storage, write: GroupWrite): Promise<boolean> {
  const TableName = storage.env.tableName;
  const memberCondition =
    write.readMemberEpoch === undefined
      ? { ConditionExpression: 'attribute_not_exists(pk)' }
      : { ConditionExpression: 'memberEpoch = :epoch', ExpressionAttributeValues: { ':epoch': write.readMemberEpoch } };
  if (write.meta === undefined && write.member === undefined && write.removed.length === 0) return true;
  try {
    if (write.meta === undefined && write.removed.length === 0 && write.member !== undefined) {
      // Steady state: only the member's own lease and reported ownership change.
      await storage.ddb.send(
        new UpdateCommand({
          TableName,
          Key: { pk: write.member.pk, sk: write.member.sk },
          UpdateExpression: 'SET expiresAtMs = :expires, lastHeartbeatMs = :now, owned = :owned, assigned = :assigned, memberEpoch = :newEpoch, subscribedTopics = :topics',
          ConditionExpression: 'memberEpoch = :epoch',
          ExpressionAttributeValues: {
            ':expires': write.member.expiresAtMs,
            ':now': write.member.lastHeartbeatMs,
            ':owned': write.member.owned,
            ':assigned': write.member.assigned,
            ':newEpoch': write.member.memberEpoch,
            ':topics': write.member.subscribedTopics,
            ':epoch': write.readMemberEpoch,
          },
        }),
      );
      return true;
    }
    const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [];
    if (write.meta !== undefined) {
      items.push({
        Put: {
          TableName,
          Item: write.meta,
          ...(write.readVersion === undefined ? { ConditionExpression: 'attribute_not_exists(pk)' } : { ConditionExpression: 'version = :version', ExpressionAttributeValues: { ':version': write.readVersion } }),
        },
      });
      if (write.readVersion === undefined) items.push({ Put: { TableName, Item: { pk: GROUPS_PK, sk: registrySk(write.group), group: write.group } } });
    }
    if (write.member !== undefined) items.push({ Put: { TableName, Item: write.member, ...memberCondition } });
    for (const gone of write.removed) {
      if (gone.memberId === write.member?.memberId) continue;
      items.push({
        Delete: {
          TableName,
          Key: { pk: groupPk(write.group), sk: memberSk(gone.memberId) },
          // Only if it has not heartbeated since we read it (or, leaving, whatever its lease).
          ...(gone.expiresAtMs === undefined ? {} : { ConditionExpression: 'expiresAtMs = :expires', ExpressionAttributeValues: { ':expires': gone.expiresAtMs } }),
        },
      });
    }
    await storage.ddb.send(new TransactWriteCommand({ TransactItems: items }));
    return true;
  } catch (error) {
    if (isConditionFailure(error) || cancellationReasons(error) !== undefined) return false;
    throw error;
  }
}
