import { z } from 'zod';
import { LIMITS } from '../config/defaults.ts';
import { DecodeBudget } from '../codec/decode-budget.ts';
import { BATCHES_MEDIA_TYPE, decodeFrames } from '../codec/framing.ts';
import { SluiceError } from '../errors.ts';
import { appendBatches } from '../log/append.ts';
import { appendWithClaims } from '../blobs/claims.ts';
import { checkBackpressure } from '../log/backpressure.ts';
import { countsOf, recordProduced } from '../log/partition-rates.ts';
import { bumpProducerEpoch, initProducerId, MAX_PRODUCER_EPOCH } from '../log/producer-ids.ts';
import { validateFrames } from '../log/batch-validation.ts';
import { buildBatches, type ProduceRecord } from '../log/batching.ts';
import { getTopic } from '../log/topics.ts';
import { validateTopicName } from '../log/topic-name.ts';
import type { Storage } from '../storage/clients.ts';
import { encodeField, FIELD_ENCODINGS, type FieldEncoding, utf8 } from './encoding.ts';
import { jsonBody, mediaType, pathParameter, type HttpRequest } from './request.ts';
import { json, type HttpResponse } from './response.ts';
import { parseWith } from './validation.ts';

const encodingSchema = z.enum(FIELD_ENCODINGS as [FieldEncoding, ...FieldEncoding[]]);

const recordSchema = z.strictObject({
  key: z.unknown().optional(),
  value: z.unknown().refine((v) => v !== undefined, 'value is required (null for a tombstone)'),
  headers: z.record(z.string().min(1), z.string().nullable()).optional(),
  timestamp: z.number().int().min(0).max(8_640_000_000_000_000).optional(),
  partition: z.number().int().min(0).optional(),
});

const produceSchema = z.strictObject({
  records: z.array(recordSchema).min(1).max(LIMITS.maxRecordsPerRequest),
  keyEncoding: encodingSchema.optional(),
  valueEncoding: encodingSchema.optional(),
});

type ProduceBody = z.infer<typeof produceSchema>;

function toRecords(body: ProduceBody): ProduceRecord[] {
  const now = Date.now();
  const keyEncoding = body.keyEncoding ?? 'string';
  const valueEncoding = body.valueEncoding ?? 'string';
  return body.records.map((r, i) => ({
    key: r.key === undefined ? null : encodeField(r.key, keyEncoding, `records[${i}].key`),
    value: encodeField(r.value, valueEncoding, `records[${i}].value`),
    headers: Object.entries(r.headers ?? {}).map(([key, value]) => {
      const where = `records[${i}].headers[${JSON.stringify(key.slice(0, 64))}]`;
      utf8(key, `${where} key`);
      return { key, value: value === null ? null : utf8(value, where) };
    }),
    timestamp: r.timestamp ?? now,
    ...(r.partition === undefined ? {} : { partition: r.partition }),
  }));
}

async function produceJson(request: HttpRequest, storage: Storage, topicName: string): Promise<HttpResponse> {
  const body = parseWith(produceSchema, jsonBody(request));
  const records = toRecords(body);
  const topic = await getTopic(storage, topicName);
  const { parts, placements } = await buildBatches(topic, records);
  await checkBackpressure(storage, topic);
  const appended = await appendWithClaims(storage, topic, parts, () => appendBatches(storage, topic, parts));
  await recordProduced(storage, topic, countsOf(parts));
  const byPartition = new Map(appended.map((a) => [a.partition, a]));
  const offsets = placements.map((p) => ({
    partition: p.partition,
    offset: ((byPartition.get(p.partition)?.batchBaseOffsets[p.batch]) as number) + p.index,
  }));
  const logAppendTimeMs = appended[0]?.logAppendTimeMs;
  return json(200, logAppendTimeMs === undefined ? { offsets } : { offsets, logAppendTime: logAppendTimeMs });
}

async function produceBinary(request: HttpRequest, storage: Storage, topicName: string): Promise<HttpResponse> {
  const frames = decodeFrames(request.body);
  const topic = await getTopic(storage, topicName);
  const { parts, order } = await validateFrames(topic, frames, new DecodeBudget('This request'));
  await checkBackpressure(storage, topic);
  const appended = await appendWithClaims(storage, topic, parts, () => appendBatches(storage, topic, parts));
  await recordProduced(storage, topic, countsOf(parts));
  const byPartition = new Map(appended.map((a) => [a.partition, a]));
  const batches = order.map(({ partition, batch }) => {
    const appendedPartition = byPartition.get(partition);
    const baseOffset = appendedPartition?.batchBaseOffsets[batch] as number;
    const header = parts.find((p) => p.partition === partition)?.batches[batch]?.header;
    const logAppendTimeMs = appendedPartition?.logAppendTimeMs;
    // Per batch, as Kafka answers per partition: a retried duplicate carries its original time.
    return { partition, baseOffset, lastOffset: baseOffset + (header?.lastOffsetDelta ?? 0), ...(logAppendTimeMs === undefined ? {} : { logAppendTime: logAppendTimeMs }) };
  });
  const logAppendTimeMs = appended[0]?.logAppendTimeMs;
  return json(200, logAppendTimeMs === undefined ? { batches } : { batches, logAppendTime: logAppendTimeMs });
}

/** POST /v1/topics/{topic}/records: JSON records or framed RecordBatch v2 bytes. */
export async function produce(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const topicName = validateTopicName(pathParameter(request, 'topic'));
  const type = mediaType(request);
  if (type === BATCHES_MEDIA_TYPE) return produceBinary(request, storage, topicName);
  if (type === 'application/json') return produceJson(request, storage, topicName);
  throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Produce takes application/json or ${BATCHES_MEDIA_TYPE}, got ${JSON.stringify(request.headers['content-type'] ?? '')}`);
}

const bumpSchema = z.strictObject({
  producerId: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  producerEpoch: z.number().int().min(0).max(MAX_PRODUCER_EPOCH),
});

/** POST /v1/producers: Kafka's InitProducerId, for idempotent producing; with `{producerId, producerEpoch}`, bumps that producer's epoch. */
export async function initProducerIdOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  if (request.body.length === 0) return json(200, await initProducerId(storage));
  return json(200, await bumpProducerEpoch(storage, parseWith(bumpSchema, jsonBody(request))));
}
