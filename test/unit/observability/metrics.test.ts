import { afterEach, describe, expect, it, vi } from 'vitest';
import { METRICS_NAMESPACE, publishMetrics } from '../../../lib/observability/metrics.ts';
import { requestMetrics } from '../../../lib/observability/request-metrics.ts';
import type { HttpRequest } from '../../../lib/http/request.ts';

function request(overrides: Partial<HttpRequest> = {}): HttpRequest {
  return { method: 'POST', path: '/', pathParameters: { topic: 'orders' }, query: {}, headers: {}, body: Buffer.alloc(0), ...overrides };
}

describe('requestMetrics', () => {
  it('counts a produce request body and the records its offsets cover, per topic', () => {
    const data = requestMetrics('produce', request({ body: Buffer.alloc(1234) }), { status: 200, json: { offsets: [{ partition: 0, baseOffset: 10, lastOffset: 14 }, { partition: 1, baseOffset: 0, lastOffset: 0 }] } }, 12);
    expect(data).toEqual([
      { name: 'BytesIn', value: 1234, topic: 'orders' },
      { name: 'RecordsIn', value: 6, topic: 'orders' },
    ]);
  });

  it('counts a binary produce by its batches', () => {
    const data = requestMetrics('produce', request({ body: Buffer.alloc(10) }), { status: 200, json: { batches: [{ partition: 2, baseOffset: 100, lastOffset: 199 }] } }, 1);
    expect(data).toContainEqual({ name: 'RecordsIn', value: 100, topic: 'orders' });
  });

  it('counts fetched records and bytes, and the wait of a long poll', () => {
    const json = { records: [{}, {}, {}], nextOffset: 3 };
    const data = requestMetrics('fetch', request({ method: 'GET', query: { offset: '0', waitMs: '1000' } }), { status: 200, json }, 480);
    expect(data).toEqual([
      { name: 'BytesOut', value: JSON.stringify(json).length, topic: 'orders' },
      { name: 'RecordsOut', value: 3, topic: 'orders' },
      { name: 'FetchWaitMs', value: 480, topic: 'orders' },
    ]);
    const binary = requestMetrics('fetch', request({ query: { offset: '40' } }), { status: 200, binary: Buffer.alloc(77), contentType: 'x', headers: { 'x-sluice-next-offset': '50' } }, 3);
    expect(binary).toEqual([
      { name: 'BytesOut', value: 77, topic: 'orders' },
      { name: 'RecordsOut', value: 10, topic: 'orders' },
    ]);
  });

  it('counts a 429 as Throttled and nothing else', () => {
    expect(requestMetrics('produce', request(), { status: 429, json: { error: 'THROTTLING_QUOTA_EXCEEDED' } }, 1)).toEqual([{ name: 'Throttled', value: 1, topic: 'orders' }]);
    expect(requestMetrics('produce', request(), { status: 400, json: {} }, 1)).toEqual([]);
  });
});

describe('publishMetrics', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writes EMF lines in the Sluice namespace, cluster-wide and per topic', () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    publishMetrics([{ name: 'BytesIn', value: 512, topic: 'orders' }]);
    const blobs = lines.flatMap((l) => l.split('\n')).filter((l) => l.includes('_aws')).map((l) => JSON.parse(l) as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> }; BytesIn: number; Topic?: string });
    expect(blobs).toHaveLength(2);
    for (const blob of blobs) {
      expect(blob._aws.CloudWatchMetrics[0]?.Namespace).toBe(METRICS_NAMESPACE);
      expect(blob.BytesIn).toBe(512);
    }
    const dimensions = blobs.map((b) => b._aws.CloudWatchMetrics[0]?.Dimensions[0]?.slice().sort());
    expect(dimensions).toEqual(expect.arrayContaining([['service'], ['Topic', 'service']]));
    expect(blobs.find((b) => b.Topic !== undefined)?.Topic).toBe('orders');
  });
});
