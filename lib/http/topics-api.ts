import { z } from 'zod';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { alterTopic, createTopic, deleteTopic, describeTopic, listTopics } from '../log/topics.ts';
import { readProduceRates } from '../log/partition-rates.ts';
import { configStrings } from '../log/topic-config.ts';
import { validateTopicName } from '../log/topic-name.ts';
import { deleteRecords } from '../log/delete-records.ts';
import { deleteTopicOffsets } from '../groups/offsets.ts';
import { partitionOf } from './partition-param.ts';
import type { Storage } from '../storage/clients.ts';
import { jsonBody, pathParameter, type HttpRequest } from './request.ts';
import { json, type HttpResponse } from './response.ts';
import { parseWith } from './validation.ts';

// Values are checked by lib/log (topic-name.ts, topic-config.ts) so that each rule has one
// home and one error name; the schemas only fix the body's shape.
const createSchema = z.strictObject({ name: z.unknown(), partitions: z.unknown().optional(), configs: z.unknown().optional() });
const alterSchema = z.strictObject({ partitions: z.unknown().optional(), configs: z.unknown().optional() });

/** GET /v1/health: 200 once both stores answer. */
export async function health(_request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  await Promise.all([
    storage.s3.send(new HeadBucketCommand({ Bucket: storage.env.bucketName })),
    storage.ddb.send(new DescribeTableCommand({ TableName: storage.env.tableName })),
  ]);
  return json(200, { status: 'ok' });
}

/** POST /v1/topics */
export async function createTopicOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const body = parseWith(createSchema, jsonBody(request));
  const topic = await createTopic(storage, { name: body.name, partitions: body.partitions ?? 1, configs: body.configs });
  // A new topic's partitions are all empty; no need to read heads back.
  const partitions = Array.from({ length: topic.partitions }, (_, partition) => ({ partition, logStartOffset: 0, highWatermark: 0, bytes: 0, segments: 0, lastCompactedAt: null }));
  return json(201, { name: topic.name, topicId: topic.topicId, partitions, configs: configStrings(topic.configs) });
}

/** GET /v1/topics */
export async function listTopicsOp(_request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const topics = await listTopics(storage);
  return json(200, { topics: topics.map((t) => ({ name: t.name, partitions: t.partitions })) });
}

const describeQuerySchema = z.object({ rates: z.enum(['true', 'false']).optional() });

/**
 * GET /v1/topics/{topic}: with each partition's produce rate over the last minute, unless
 * `?rates=false` (a client loading metadata to partition with needs none, and saves the Query).
 */
export async function describeTopicOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const name = validateTopicName(pathParameter(request, 'topic'));
  const { rates: withRates } = parseWith(describeQuerySchema, request.query);
  const description = await describeTopic(storage, name);
  if (withRates === 'false') return json(200, description);
  const rates = await readProduceRates(storage, { topicId: description.topicId, partitions: description.partitions.length });
  const partitions = description.partitions.map((p) => (rates[p.partition] === undefined ? p : { ...p, produceRate: rates[p.partition] }));
  return json(200, { ...description, partitions });
}

/** PATCH /v1/topics/{topic} */
export async function alterTopicOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const name = validateTopicName(pathParameter(request, 'topic'));
  const body = parseWith(alterSchema, jsonBody(request));
  return json(200, await alterTopic(storage, name, body));
}

/** DELETE /v1/topics/{topic} */
export async function deleteTopicOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const deleted = await deleteTopic(storage, validateTopicName(pathParameter(request, 'topic')));
  // Committed offsets go with the topic: a re-created topic starts with none (they are keyed by topicId).
  await deleteTopicOffsets(storage, deleted.topicId);
  return { status: 204 };
}


const deleteRecordsSchema = z.strictObject({ offset: z.number().int().min(-1).max(Number.MAX_SAFE_INTEGER) });

/** POST /v1/topics/{topic}/partitions/{partition}/delete-records (Kafka's DeleteRecords) */
export async function deleteRecordsOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const body = parseWith(deleteRecordsSchema, jsonBody(request));
  const { topic, partition } = await partitionOf(request, storage);
  const { lowWatermark } = await deleteRecords(storage, topic, partition, body.offset);
  // logStartOffset, as every other route names it; lowWatermark (kafkajs's name) stays for older clients.
  return json(200, { logStartOffset: lowWatermark, lowWatermark });
}
