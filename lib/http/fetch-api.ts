import { z } from 'zod';
import { LIMITS } from '../config/defaults.ts';
import { BATCHES_MEDIA_TYPE, encodeFrames } from '../codec/framing.ts';
import { decodeRecordBatch } from '../codec/record-batch.ts';
import { readPartition, waitForData, type FetchedBatch, type ReadResult } from '../log/read.ts';
import { lookupOffset } from '../log/offsets.ts';
import type { Storage } from '../storage/clients.ts';
import { FIELD_ENCODINGS, renderField, type FieldEncoding } from './encoding.ts';
import { partitionOf } from './partition-param.ts';
import type { HttpRequest } from './request.ts';
import { json, type HttpResponse } from './response.ts';
import { parseWith } from './validation.ts';

function integer(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,16}$/, 'must be a non-negative integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

const encodingSchema = z.enum(FIELD_ENCODINGS as [FieldEncoding, ...FieldEncoding[]]);

const querySchema = z.object({
  offset: integer(0, Number.MAX_SAFE_INTEGER),
  maxBytes: integer(1, LIMITS.maxFetchResponseBytes).default(LIMITS.defaultFetchMaxBytes),
  maxRecords: integer(1, LIMITS.maxFetchMaxRecords).default(LIMITS.defaultFetchMaxRecords),
  waitMs: integer(0, LIMITS.maxWaitMs).default(0),
  encoding: encodingSchema.default('string'),
  // Per-field overrides of `encoding`, mirroring produce's keyEncoding / valueEncoding.
  keyEncoding: encodingSchema.optional(),
  valueEncoding: encodingSchema.optional(),
});

type FetchQuery = z.infer<typeof querySchema>;

/** Rough JSON size of a rendered record, to keep a response under Lambda's 6 MB. */
function renderedSize(value: unknown): number {
  return typeof value === 'string' ? value.length * 2 + 2 : JSON.stringify(value ?? null).length;
}

async function renderJson(result: ReadResult, query: FetchQuery): Promise<HttpResponse> {
  const records: Array<{ offset: number; timestamp: number; key: unknown; value: unknown; headers: Record<string, string | null> }> = [];
  let nextOffset = query.offset;
  let size = 0;
  outer: for (const batch of result.batches) {
    const decoded = await decodeRecordBatch(batch.bytes);
    for (const r of decoded.records) {
      if (r.offset < query.offset) continue;
      const where = `The record at offset ${r.offset}`;
      const key = renderField(r.key, query.keyEncoding ?? query.encoding, `${where} has a key that`);
      const value = renderField(r.value, query.valueEncoding ?? query.encoding, `${where} has a value that`);
      const headers: Record<string, string | null> = {};
      for (const h of r.headers) headers[h.key] = h.value === null ? null : h.value.toString('utf8');
      const cost = 80 + renderedSize(key) + renderedSize(value) + JSON.stringify(headers).length;
      if (records.length > 0 && (records.length >= query.maxRecords || size + cost > LIMITS.maxFetchResponseBytes)) break outer;
      records.push({ offset: r.offset, timestamp: r.timestamp, key, value, headers });
      size += cost;
      nextOffset = r.offset + 1;
    }
    // Compaction can leave offsets without records at a batch's end; skip past them.
    if (records.length < query.maxRecords) nextOffset = Math.max(nextOffset, batch.lastOffset + 1);
  }
  return json(200, { records, nextOffset, highWatermark: result.highWatermark, logStartOffset: result.logStartOffset });
}

function renderBinary(result: ReadResult, partition: number, query: FetchQuery): HttpResponse {
  const batches: FetchedBatch[] = [];
  let records = 0;
  for (const batch of result.batches) {
    if (batches.length > 0 && records >= query.maxRecords) break;
    batches.push(batch);
    records += batch.header.recordCount;
  }
  const nextOffset = batches.length === 0 ? query.offset : (batches[batches.length - 1] as FetchedBatch).lastOffset + 1;
  return {
    status: 200,
    binary: encodeFrames(batches.map((b) => ({ partition, batch: b.bytes }))),
    contentType: BATCHES_MEDIA_TYPE,
    headers: {
      'x-sluice-next-offset': String(nextOffset),
      'x-sluice-high-watermark': String(result.highWatermark),
      'x-sluice-log-start-offset': String(result.logStartOffset),
    },
  };
}

/** GET /v1/topics/{topic}/partitions/{partition}/records */
export async function fetchRecords(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const query = parseWith(querySchema, request.query);
  const { topic, partition } = await partitionOf(request, storage);
  let result = await readPartition(storage, topic, partition, query.offset, { maxBytes: query.maxBytes });
  if (result.batches.length === 0 && query.waitMs > 0) {
    await waitForData(storage, topic, partition, query.offset, query.waitMs);
    result = await readPartition(storage, topic, partition, query.offset, { maxBytes: query.maxBytes });
  }
  const accept = request.headers.accept ?? '';
  return accept.includes(BATCHES_MEDIA_TYPE) ? renderBinary(result, partition, query) : renderJson(result, query);
}

const offsetsQuerySchema = z.object({
  timestamp: z.union([z.enum(['earliest', 'latest']), integer(0, Number.MAX_SAFE_INTEGER)]),
});

/** GET /v1/topics/{topic}/partitions/{partition}/offsets?timestamp=<ms>|earliest|latest (Kafka's ListOffsets) */
export async function listOffsets(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const query = parseWith(offsetsQuerySchema, request.query);
  const { topic, partition } = await partitionOf(request, storage);
  return json(200, await lookupOffset(storage, topic, partition, query.timestamp));
}
