import { z } from 'zod';
import { LIMITS } from '../config/defaults.ts';
import { BATCHES_MEDIA_TYPE, encodeFrames } from '../codec/framing.ts';
import { type BudgetKind, DecodeBudget, isBudgetExceeded } from '../codec/decode-budget.ts';
import { openRecordBatch, type DecodedRecord } from '../codec/record-batch.ts';
import { SluiceError } from '../errors.ts';
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

interface RenderedRecord {
  offset: number;
  timestamp: number;
  key: unknown;
  value: unknown;
  headers: Record<string, string | null>;
}

/** Room for the response's other fields around the records. */
const ENVELOPE_BYTES = 256;

/**
 * Bytes a record adds to the response as it leaves Lambda: its JSON, escaped once more
 * because Lambda carries the body as a JSON string (every quote and backslash doubles).
 */
function renderedBytes(record: RenderedRecord): number {
  return Buffer.byteLength(JSON.stringify(JSON.stringify(record))) - 1;
}

function renderRecord(r: DecodedRecord, query: FetchQuery): RenderedRecord {
  const where = `The record at offset ${r.offset}`;
  const key = renderField(r.key, query.keyEncoding ?? query.encoding, `${where} has a key that`);
  const value = renderField(r.value, query.valueEncoding ?? query.encoding, `${where} has a value that`);
  const headers: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
  for (const h of r.headers) headers[h.key] = h.value === null ? null : h.value.toString('utf8');
  return { offset: r.offset, timestamp: r.timestamp, key, value, headers };
}

/** Stored bytes of a record's key, value and headers: no encoding renders them in fewer (but "json" may, by dropping whitespace). */
function storedBytes(r: DecodedRecord): number {
  return (r.key?.length ?? 0) + (r.value?.length ?? 0) + r.headers.reduce((n, h) => n + h.key.length + (h.value?.length ?? 0), 0);
}

/** Issue 9 defect 7's error: one record that no JSON response can carry, and the form that can. */
function unrenderable(r: DecodedRecord, bytes: number, query: FetchQuery): SluiceError {
  const base64Bytes = (b: Buffer | null) => (b === null ? 4 : Math.ceil(b.length / 3) * 4 + 2);
  const asBase64 = 200 + base64Bytes(r.key) + base64Bytes(r.value) + r.headers.reduce((n, h) => n + 2 * (h.key.length + (h.value?.length ?? 0)) + 16, 0);
  const alternative =
    query.encoding !== 'base64' && asBase64 + ENVELOPE_BYTES <= LIMITS.maxFetchResponseBytes
      ? `fetch it with encoding=base64, or whole with Accept: ${BATCHES_MEDIA_TYPE}`
      : `fetch its batch whole with Accept: ${BATCHES_MEDIA_TYPE}`;
  return new SluiceError('MESSAGE_TOO_LARGE', `The record at offset ${r.offset} renders as at least ${bytes} bytes of JSON, over the ${LIMITS.maxFetchResponseBytes}-byte limit on a response; ${alternative}`, {
    details: { offset: r.offset },
  });
}

/**
 * The JSON form: records decoded one at a time and rendered until the rendered response
 * would pass maxBytes (the first record may pass it, as Kafka's KIP-74 returns the first
 * batch whole, but never Lambda's limit). Decoding is charged to one budget per fetch; past
 * it the records so far are returned, or, with none yet, an error naming the binary form.
 */
async function renderJson(result: ReadResult, query: FetchQuery): Promise<HttpResponse> {
  const budget = new DecodeBudget('This fetch');
  const advice = `; fetch it with Accept: ${BATCHES_MEDIA_TYPE} to get the stored batches whole`;
  const records: RenderedRecord[] = [];
  let nextOffset = query.offset;
  let size = ENVELOPE_BYTES;
  const full = (cost: number) => records.length >= query.maxRecords || size + cost > Math.max(query.maxBytes, ENVELOPE_BYTES);
  try {
    for (const batch of result.batches) {
      const reader = await openRecordBatch(batch.bytes, 0, budget);
      if (batch.baseOffset < query.offset) await reader.skipTo(query.offset);
      for (let r = reader.next(); r !== undefined; r = reader.next()) {
        // Too big before rendering: refuse without building a string of hundreds of MB.
        const atLeast = storedBytes(r);
        if (atLeast + ENVELOPE_BYTES > LIMITS.maxFetchResponseBytes && records.length === 0) throw unrenderable(r, atLeast, query);
        if (records.length > 0 && full(atLeast)) return done();
        const rendered = renderRecord(r, query);
        const cost = renderedBytes(rendered) + 1;
        if (records.length > 0 && full(cost)) return done();
        if (ENVELOPE_BYTES + cost > LIMITS.maxFetchResponseBytes) throw unrenderable(r, cost, query);
        records.push(rendered);
        size += cost;
        nextOffset = r.offset + 1;
      }
      // Compaction can leave offsets without records at a batch's end; skip past them.
      nextOffset = Math.max(nextOffset, batch.lastOffset + 1);
      if (records.length >= query.maxRecords) break;
    }
  } catch (error) {
    if (!isBudgetExceeded(error)) throw error;
    if (records.length === 0) throw budget.exceeded(error.details.decodeBudget as BudgetKind, advice);
  }
  return done();

  function done(): HttpResponse {
    return json(200, { records, nextOffset, highWatermark: result.highWatermark, logStartOffset: result.logStartOffset });
  }
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
