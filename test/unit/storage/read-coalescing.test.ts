import { describe, expect, it } from 'vitest';
import { CoalescedReads } from '../../../lib/storage/read-coalescing.ts';

/** A read whose answer the test releases by hand, recording when each started. */
function controlledReads(): { read: () => Promise<number>; started: number[]; finish(value: number): void; fail(error: Error): void } {
  const pending: Array<{ resolve(v: number): void; reject(e: Error): void }> = [];
  const started: number[] = [];
  let clock = 0;
  return {
    read: () =>
      new Promise<number>((resolve, reject) => {
        started.push(clock++);
        pending.push({ resolve, reject });
      }),
    started,
    finish: (value) => pending.shift()?.resolve(value),
    fail: (error) => pending.shift()?.reject(error),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('coalesced reads', () => {
  it('answers a caller that arrives during a read with the next read, started once that one settles', async () => {
    const reads = new CoalescedReads<number>();
    const source = controlledReads();
    const answers = [reads.read('k', source.read), reads.read('k', source.read)];
    // The second caller arrived while the first read was in flight: it waits for the next one.
    await tick();
    source.finish(1);
    await tick();
    const third = reads.read('k', source.read);
    source.finish(2);
    await tick();
    source.finish(3);
    expect(await Promise.all([...answers, third])).toEqual([1, 2, 3]);
    expect(source.started).toHaveLength(3);
  });

  it('never hands a caller a read that started before it called', async () => {
    const reads = new CoalescedReads<number>();
    let version = 0;
    const pending: Array<() => void> = [];
    const read = () =>
      new Promise<number>((resolve) => {
        const seen = version;
        pending.push(() => resolve(seen));
      });
    const first = reads.read('k', read);
    version = 1; // a write lands after the first read was sent
    const later = [reads.read('k', read), reads.read('k', read), reads.read('k', read)];
    pending.shift()?.();
    await tick();
    pending.shift()?.();
    expect(await first).toBe(0);
    // The three later callers share one read, sent after the write.
    expect(await Promise.all(later)).toEqual([1, 1, 1]);
    expect(pending).toHaveLength(0);
  });

  it('passes a failed read to its callers only, and reads afresh for the next', async () => {
    const reads = new CoalescedReads<number>();
    const source = controlledReads();
    const failing = reads.read('k', source.read);
    source.fail(new Error('throttled'));
    await expect(failing).rejects.toThrow('throttled');
    const next = reads.read('k', source.read);
    source.finish(7);
    expect(await next).toBe(7);
    expect(source.started).toHaveLength(2);
  });

  it('keeps keys apart', async () => {
    const reads = new CoalescedReads<string>();
    const a = reads.read('a', async () => 'A');
    const b = reads.read('b', async () => 'B');
    expect(await Promise.all([a, b])).toEqual(['A', 'B']);
  });
});
