import { z } from 'zod';
import { GROUPS } from '../config/defaults.ts';
import { SluiceError, invalidRequest } from '../errors.ts';
import { ASSIGNORS, tpKey, type AssignorName } from '../groups/assignors.ts';
import { describeGroup, listGroups } from '../groups/describe.ts';
import { deleteGroup } from '../groups/delete-group.ts';
import { deleteOffsets } from '../groups/delete-offsets.ts';
import { heartbeat } from '../groups/heartbeat.ts';
import { keepOffsetsAlive } from '../groups/offset-retention.ts';
import { commitOffsets, committedOffsets, OFFSETS_PER_COMMIT, resetOffsets, type ResetTarget } from '../groups/offsets.ts';
import type { Storage } from '../storage/clients.ts';
import { jsonBody, pathParameter, type HttpRequest } from './request.ts';
import { json, type HttpResponse } from './response.ts';
import { parseWith } from './validation.ts';

const GROUP_ID = /^[a-zA-Z0-9._-]{1,249}$/;

function groupOf(request: HttpRequest): string {
  const group = pathParameter(request, 'group');
  if (!GROUP_ID.test(group) || group === '.' || group === '..') {
    throw new SluiceError('INVALID_GROUP_ID', `Group id ${JSON.stringify(group)} is illegal: 1–249 of ASCII letters, digits, '.', '_' and '-'`);
  }
  return group;
}

const topicName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'must be a legal topic name');
const topicPartitions = z.array(z.strictObject({ topic: topicName, partitions: z.array(z.number().int().min(0).max(999)).max(1000) })).max(1000);

const heartbeatSchema = z
  .strictObject({
    memberId: z.string().min(1).max(255),
    memberEpoch: z.number().int().min(-1),
    subscribedTopics: z.array(topicName).max(1000).optional(),
    ownedPartitions: topicPartitions.optional(),
    assignor: z.string().optional(),
    sessionTimeoutMs: z.number().int().min(GROUPS.minSessionTimeoutMs).max(GROUPS.maxSessionTimeoutMs).optional(),
    heartbeatIntervalMs: z.number().int().min(GROUPS.minHeartbeatIntervalMs).max(GROUPS.maxSessionTimeoutMs).optional(),
    rebalanceTimeoutMs: z.number().int().min(1).max(2_147_483_647).optional(),
  })
  .refine((b) => b.memberEpoch !== 0 || b.subscribedTopics !== undefined, { message: 'subscribedTopics is required to join (memberEpoch 0)', path: ['subscribedTopics'] });

const commitSchema = z
  .strictObject({
    memberId: z.string().min(1).max(255).optional(),
    memberEpoch: z.number().int().min(1).optional(),
    commitSequence: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    offsets: z.array(z.strictObject({ topic: topicName, partition: z.number().int().min(0).max(999), offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), metadata: z.string().max(4096).optional() })).min(1).max(OFFSETS_PER_COMMIT),
  })
  .refine((b) => (b.memberId === undefined) === (b.memberEpoch === undefined), { message: 'memberId and memberEpoch go together', path: ['memberEpoch'] })
  .refine((b) => b.commitSequence === undefined || b.memberId !== undefined, { message: 'commitSequence orders a member\'s commits; it needs memberId and memberEpoch', path: ['commitSequence'] });

const deleteOffsetsQuery = z.strictObject({
  topic: topicName,
  partition: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,2})$/, 'must be a partition number, 0–999')
    .transform(Number)
    .optional(),
});

const resetSchema = z
  .strictObject({
    topic: topicName,
    to: z.enum(['earliest', 'latest']).optional(),
    offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    timestamp: z.number().int().min(0).max(8_640_000_000_000_000).optional(),
  })
  .refine((b) => [b.to, b.offset, b.timestamp].filter((v) => v !== undefined).length === 1, { message: 'give exactly one of to, offset or timestamp' });

function assignorOf(name: string | undefined): AssignorName | undefined {
  if (name === undefined) return undefined;
  const found = ASSIGNORS.find((a) => a === name);
  if (found === undefined) throw new SluiceError('UNSUPPORTED_ASSIGNOR', `Assignor ${JSON.stringify(name)} is not supported; use one of ${ASSIGNORS.join(', ')}`);
  return found;
}

/** POST /v1/groups/{group}/heartbeat (KIP-848 ConsumerGroupHeartbeat) */
export async function heartbeatOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const group = groupOf(request);
  const body = parseWith(heartbeatSchema, jsonBody(request));
  // The pair as given; against a group's kept session timeout, reconcile checks it.
  if (body.heartbeatIntervalMs !== undefined && body.sessionTimeoutMs !== undefined && body.heartbeatIntervalMs >= body.sessionTimeoutMs) {
    throw invalidRequest(`heartbeatIntervalMs (${body.heartbeatIntervalMs}) must be below sessionTimeoutMs (${body.sessionTimeoutMs})`);
  }
  const assignor = assignorOf(body.assignor);
  const result = await heartbeat(storage, group, {
    memberId: body.memberId,
    memberEpoch: body.memberEpoch,
    ...(body.subscribedTopics === undefined ? {} : { subscribedTopics: body.subscribedTopics }),
    ...(body.ownedPartitions === undefined ? {} : { ownedPartitions: body.ownedPartitions.flatMap((tp) => tp.partitions.map((p) => tpKey(tp.topic, p))) }),
    ...(assignor === undefined ? {} : { assignor }),
    ...(body.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: body.sessionTimeoutMs }),
    ...(body.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: body.heartbeatIntervalMs }),
    ...(body.rebalanceTimeoutMs === undefined ? {} : { rebalanceTimeoutMs: body.rebalanceTimeoutMs }),
  });
  // A live member's heartbeat keeps the group's offsets from expiring (KIP-211).
  if (result.memberEpoch > 0) await keepOffsetsAlive(storage, group);
  return json(200, result);
}

/** POST /v1/groups/{group}/offsets (OffsetCommit) */
export async function commitOffsetsOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const group = groupOf(request);
  const body = parseWith(commitSchema, jsonBody(request));
  await commitOffsets(storage, group, {
    offsets: body.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, ...(o.metadata === undefined ? {} : { metadata: o.metadata }) })),
    ...(body.memberId === undefined ? {} : { memberId: body.memberId, memberEpoch: body.memberEpoch as number }),
    ...(body.commitSequence === undefined ? {} : { commitSequence: body.commitSequence }),
  });
  return json(200, { committed: body.offsets.length });
}

/** GET /v1/groups/{group}/offsets (OffsetFetch) */
export async function fetchOffsetsOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const items = await committedOffsets(storage, groupOf(request));
  return json(200, { offsets: items.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata, committedAt: o.committedAtMs })) });
}

/** GET /v1/groups */
export async function listGroupsOp(_request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  return json(200, { groups: (await listGroups(storage)).map((group) => ({ group })) });
}

/** GET /v1/groups/{group} */
export async function describeGroupOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const group = groupOf(request);
  const description = await describeGroup(storage, group);
  if (description === undefined) throw new SluiceError('GROUP_ID_NOT_FOUND', `Group ${JSON.stringify(group)} has no members and no committed offsets`);
  return json(200, description);
}

/** POST /v1/groups/{group}/offsets/reset */
export async function resetOffsetsOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const group = groupOf(request);
  const body = parseWith(resetSchema, jsonBody(request));
  const target: ResetTarget = body.to !== undefined ? { to: body.to } : body.offset !== undefined ? { offset: body.offset } : { timestamp: body.timestamp as number };
  const items = await resetOffsets(storage, group, body.topic, target);
  return json(200, { offsets: items.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })) });
}

/** DELETE /v1/groups/{group} (DeleteGroups): only while the group has no live member. */
export async function deleteGroupOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  await deleteGroup(storage, groupOf(request));
  return { status: 204 };
}

/** DELETE /v1/groups/{group}/offsets?topic=…&partition=… (OffsetDelete): partition omitted means every partition. */
export async function deleteOffsetsOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const group = groupOf(request);
  const query = parseWith(deleteOffsetsQuery, { ...request.query });
  return json(200, await deleteOffsets(storage, group, query.topic, query.partition));
}
