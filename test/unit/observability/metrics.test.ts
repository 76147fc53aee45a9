import { afterEach, describe, expect, it, vi } from 'vitest';
import { consumerLagData, MAX_GROUP_SERIES_PER_PASS, METRICS_NAMESPACE, publishMetrics } from '../../../lib/observability/metrics.ts';
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

describe('group metrics', () => {
  afterEach(() => vi.restoreAllMocks());

  function emf(run: () => void): Array<{ _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][] }> }; [key: string]: unknown }> {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    run();
    return lines.flatMap((l) => l.split('\n')).filter((l) => l.includes('_aws')).map((l) => JSON.parse(l) as never);
  }

  it('publishes a group\'s lag cluster-wide, per group, and per group and topic', () => {
    const blobs = emf(() => publishMetrics([{ name: 'ConsumerLagRecords', value: 42, group: 'billing', topic: 'orders' }]));
    const sets = blobs.map((b) => b._aws.CloudWatchMetrics[0]?.Dimensions[0]?.slice().sort());
    expect(sets).toEqual(expect.arrayContaining([['service'], ['Group', 'service'], ['Group', 'Topic', 'service']]));
    expect(sets).toHaveLength(3);
    expect(blobs.every((b) => b.ConsumerLagRecords === 42)).toBe(true);
  });

  it(`bounds the lag series of one pass to the ${MAX_GROUP_SERIES_PER_PASS} largest, however many groups clients invent (5,000 group × topic pairs)`, () => {
    const lags = Array.from({ length: 5000 }, (_, i) => ({ group: `g${i % 2500}`, topic: `t${i % 2}`, lagRecords: i }));
    const data = consumerLagData(lags);
    expect(data).toHaveLength(MAX_GROUP_SERIES_PER_PASS);
    expect(data[0]).toEqual({ name: 'ConsumerLagRecords', value: 4999, group: 'g2499', topic: 't1' });
    expect(Math.min(...data.map((d) => d.value))).toBe(5000 - MAX_GROUP_SERIES_PER_PASS);
    const blobs = emf(() => publishMetrics(data));
    const series = new Set(blobs.flatMap((b) => (b.Group === undefined ? [] : [`${String(b.Group)}/${String(b.Topic ?? '')}`])));
    // One (group) and one (group, topic) series per datum at most.
    expect(series.size).toBeLessThanOrEqual(2 * MAX_GROUP_SERIES_PER_PASS);
  });
});
