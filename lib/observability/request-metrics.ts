/**
 * The metrics one API request yields, read off the request and the response the operation
 * returned, so that operations stay free of metric calls.
 */
import type { HttpRequest } from '../http/request.ts';
import type { HttpResponse } from '../http/response.ts';
import type { MetricDatum } from './metrics.ts';

type Offsets = ReadonlyArray<{ baseOffset?: unknown; lastOffset?: unknown }>;

/** Records in a produce answer: each partition's or batch's offset range. */
function appendedRecords(body: unknown): number {
  const { offsets, batches } = (body ?? {}) as { offsets?: Offsets; batches?: Offsets };
  let count = 0;
  for (const range of [...(offsets ?? []), ...(batches ?? [])]) {
    if (typeof range.baseOffset === 'number' && typeof range.lastOffset === 'number') count += range.lastOffset - range.baseOffset + 1;
  }
  return count;
}

/** Records in a fetch answer: the JSON records, or the offsets the binary form advanced over. */
function fetchedRecords(request: HttpRequest, response: HttpResponse): number {
  if ('json' in response) {
    const records = (response.json as { records?: unknown[] } | undefined)?.records;
    return Array.isArray(records) ? records.length : 0;
  }
  const next = Number(response.headers?.['x-sluice-next-offset']);
  const from = Number(request.query.offset);
  return Number.isFinite(next) && Number.isFinite(from) ? Math.max(0, next - from) : 0;
}

function bodyBytes(response: HttpResponse): number {
  if ('json' in response) return Buffer.byteLength(JSON.stringify(response.json) ?? '');
  if ('binary' in response) return response.binary.length;
  return 0;
}

/** The metrics of one request to `operation` that was answered `response` after `elapsedMs`. */
export function requestMetrics(operation: string, request: HttpRequest, response: HttpResponse, elapsedMs: number): MetricDatum[] {
  const topic = request.pathParameters.topic;
  const data: MetricDatum[] = [];
  const datum = (name: MetricDatum['name'], value: number) => data.push(topic === undefined ? { name, value } : { name, value, topic });
  if (response.status === 429) datum('Throttled', 1);
  if (response.status !== 200) return data;
  if (operation === 'produce') {
    datum('BytesIn', request.body.length);
    datum('RecordsIn', appendedRecords('json' in response ? response.json : undefined));
  }
  if (operation === 'fetch') {
    datum('BytesOut', bodyBytes(response));
    datum('RecordsOut', fetchedRecords(request, response));
    if (Number(request.query.waitMs ?? 0) > 0) datum('FetchWaitMs', elapsedMs);
  }
  return data;
}
