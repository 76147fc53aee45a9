import { describe, expect, it } from 'vitest';
import { groupLag, mostLagging } from '../../../lib/log/backpressure.ts';
import { rateWindow } from '../../../lib/log/partition-rates.ts';
import type { PartitionState } from '../../../lib/log/topics.ts';

const head = (partition: number, logStartOffset: number, highWatermark: number): PartitionState => ({ partition, logStartOffset, highWatermark, bytes: 0, segments: 0, lastCompactedAt: null });

describe('groupLag', () => {
  it('sums highWatermark − committed over the partitions the group committed, counting records below the log start as gone', () => {
    const heads = [head(0, 0, 100), head(1, 50, 80), head(2, 0, 10)];
    expect(groupLag(heads, new Map([[0, 90], [1, 20]]))).toBe(10 + 30);
  });

  it('is 0 for a group ahead of the heads or with no committed partition', () => {
    expect(groupLag([head(0, 0, 5)], new Map([[0, 7]]))).toBe(0);
    expect(groupLag([head(0, 0, 5)], new Map())).toBe(0);
  });
});

describe('mostLagging', () => {
  it('names the group with the largest lag, and nothing when no group committed', () => {
    const heads = [head(0, 0, 100)];
    expect(mostLagging(heads, [{ group: 'fast', committed: new Map([[0, 99]]) }, { group: 'slow', committed: new Map([[0, 10]]) }])).toEqual({ group: 'slow', lagRecords: 90 });
    expect(mostLagging(heads, [])).toBeUndefined();
  });
});

describe('rateWindow', () => {
  it('covers the current 10-s bucket so far and the five before it (50–60 s)', () => {
    expect(rateWindow(1_700_000_000_000)).toEqual({ firstBucketMs: 1_700_000_000_000 - 50_000, windowMs: 50_000 });
    expect(rateWindow(1_700_000_009_999)).toEqual({ firstBucketMs: 1_700_000_000_000 - 50_000, windowMs: 59_999 });
  });
});
