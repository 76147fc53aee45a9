import { describe, expect, it } from 'vitest';
import { MAX_TRANSACTION_ITEMS, overheadOf, itemsOf, planCommitGroups, type CommitCost } from '../../../lib/log/commit-groups.ts';
import { MAX_SEQUENCE, judgeProducer, nextSequence, previousSequence, producerOfBatches, type ProducerIdentity, type StoredProducerState } from '../../../lib/log/producer-state.ts';
import { LIMITS } from '../../../lib/config/defaults.ts';

const pid = 7n;
function producer(firstSequence: number, lastSequence: number, producerEpoch = 0): ProducerIdentity {
  return { producerId: pid, producerEpoch, firstSequence, lastSequence };
}
function stored(firstSequence: number, lastSequence: number, producerEpoch = 0): StoredProducerState {
  return { producerEpoch, firstSequence, lastSequence, baseOffset: 40 };
}

describe('sequence arithmetic', () => {
  it('wraps from 2^31 - 1 back to 0, as Kafka does', () => {
    expect(nextSequence(MAX_SEQUENCE, 1)).toBe(0);
    expect(nextSequence(MAX_SEQUENCE - 1, 3)).toBe(1);
    expect(previousSequence(0)).toBe(MAX_SEQUENCE);
    expect(previousSequence(5)).toBe(4);
  });

  it('gives a batch that crosses the wrap a wrapped last sequence', () => {
    const headers = [
      { producerId: pid, producerEpoch: 0, baseSequence: MAX_SEQUENCE - 1, lastOffsetDelta: 2 },
      { producerId: pid, producerEpoch: 0, baseSequence: 1, lastOffsetDelta: 0 },
    ];
    expect(producerOfBatches(0, headers)).toEqual(producer(MAX_SEQUENCE - 1, 1));
  });

  it('rejects batches of one request whose sequences do not follow each other', () => {
    const headers = [
      { producerId: pid, producerEpoch: 0, baseSequence: 0, lastOffsetDelta: 1 },
      { producerId: pid, producerEpoch: 0, baseSequence: 3, lastOffsetDelta: 0 },
    ];
    expect(() => producerOfBatches(0, headers)).toThrow(expect.objectContaining({ code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' }));
  });

  it('takes no producer from batches without a producer id', () => {
    expect(producerOfBatches(0, [{ producerId: -1n, producerEpoch: -1, baseSequence: -1, lastOffsetDelta: 0 }])).toBeUndefined();
  });
});

describe('judgeProducer (Kafka checkProducerEpoch / checkSequence)', () => {
  it.each([
    ['no state, sequence 0', producer(0, 2), undefined, 'append'],
    ['no state, sequence 5', producer(5, 6), undefined, 'UNKNOWN_PRODUCER_ID'],
    ['the next sequence', producer(3, 4), stored(0, 2), 'append'],
    ['the next sequence across the wrap', producer(0, 1), stored(MAX_SEQUENCE - 2, MAX_SEQUENCE), 'append'],
    ['a gap', producer(4, 4), stored(0, 2), 'OUT_OF_ORDER_SEQUENCE_NUMBER'],
    ['the last batch again', producer(0, 2), stored(0, 2), 'duplicate'],
    ['an older epoch', producer(3, 3, 0), stored(0, 2, 1), 'INVALID_PRODUCER_EPOCH'],
    ['a newer epoch from 0', producer(0, 0, 1), stored(0, 2, 0), 'append'],
    ['a newer epoch not from 0', producer(3, 3, 1), stored(0, 2, 0), 'OUT_OF_ORDER_SEQUENCE_NUMBER'],
  ] as const)('%s: %s', (_name, identity, state, expected) => {
    const verdict = judgeProducer(0, identity, state);
    expect(verdict.kind === 'refused' ? verdict.error.code : verdict.kind).toBe(expected);
  });
});

describe('planCommitGroups', () => {
  const idempotent = (firstSequence: number): CommitCost => ({ producer: { firstSequence } });
  const plain = (): CommitCost => ({});

  it('puts the client\'s widest request (maxPartitionsPerCommit idempotent partitions at sequence 0) in one transaction', () => {
    const drafts = Array.from({ length: LIMITS.maxPartitionsPerCommit }, () => idempotent(0));
    expect(planCommitGroups(drafts)).toEqual([[0, drafts.length]]);
  });

  it.each([
    ['50 idempotent partitions', Array.from({ length: 50 }, () => idempotent(0))],
    ['1,000 idempotent partitions past sequence 0', Array.from({ length: 1000 }, () => idempotent(9))],
    ['1,000 plain partitions', Array.from({ length: 1000 }, plain)],
    ['a mix', Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? plain() : idempotent(i % 2)))],
  ] as Array<[string, CommitCost[]]>)('never puts more than 100 items in a transaction: %s', (_name, drafts) => {
    const groups = planCommitGroups(drafts);
    expect(groups.flatMap(([start, end]) => Array.from({ length: end - start }, (_, i) => start + i))).toEqual(drafts.map((_, i) => i));
    for (const [start, end] of groups) {
      const group = drafts.slice(start, end);
      expect(overheadOf(group) + group.reduce((n, d) => n + itemsOf(d), 0)).toBeLessThanOrEqual(MAX_TRANSACTION_ITEMS);
    }
    // As few groups as fit: each group but the last is full enough that one more would not fit.
    for (const [start, end] of groups.slice(0, -1)) {
      const group = drafts.slice(start, end + 1);
      expect(overheadOf(group) + group.reduce((n, d) => n + itemsOf(d), 0)).toBeGreaterThan(MAX_TRANSACTION_ITEMS);
    }
  });
});
