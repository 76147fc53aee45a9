import { describe, expect, it } from 'vitest';
import { attemptOf, dueAtOf, forwardHeaders, originOf, RETRY_HEADERS, userHeaders } from '../../lib/client/retry-headers.ts';
import type { ConsumedHeaders, ConsumedMessage } from '../../lib/client/types.ts';

/** Headers as a consumer decodes them, from what a producer sent. */
function consumed(headers: Record<string, string | Buffer | null | ReadonlyArray<string | Buffer | null>>): ConsumedHeaders {
  const bytes = (v: string | Buffer | null) => (v === null ? null : Buffer.from(v));
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(bytes) : bytes(v as string | Buffer | null)]));
}

const message = (headers: ConsumedHeaders, offset = 7): ConsumedMessage => ({ offset, timestamp: 1_700_000_000_000, key: Buffer.from('k'), value: Buffer.from('v'), headers });

describe('retry headers', () => {
  it('take a record first consumed from its own coordinates, and a forwarded one from its origin headers', () => {
    const fresh = message(consumed({ trace: 'x' }), 41);
    expect(originOf('orders', 3, fresh)).toEqual({ topic: 'orders', partition: 3, offset: 41, timestampMs: 1_700_000_000_000 });
    expect(attemptOf(fresh)).toBe(0);

    const forwarded = message(consumed(forwardHeaders(fresh.headers, originOf('orders', 3, fresh), 1, new RangeError('too big'), { dueAtMs: 1_700_000_001_000 }) as Record<string, string>), 0);
    expect(originOf('orders.retry.1', 3, forwarded)).toEqual({ topic: 'orders', partition: 3, offset: 41, timestampMs: 1_700_000_000_000 });
    expect(attemptOf(forwarded)).toBe(1);
    expect(dueAtOf(forwarded)).toBe(1_700_000_001_000);
    expect(forwarded.headers[RETRY_HEADERS.errorName]?.toString()).toBe('RangeError');
    expect(forwarded.headers[RETRY_HEADERS.deadLetterReason]).toBeUndefined();
  });

  it('keep the record’s own headers, repeated keys and other sluice. headers (e.g. a claim-check), and replace only their own', () => {
    const headers = consumed({ trace: ['a', 'b'], 'sluice.claim-check': '{"key":"blob"}', [RETRY_HEADERS.attempt]: '2', [RETRY_HEADERS.dueAt]: '5' });
    expect(Object.keys(userHeaders(headers)).sort()).toEqual(['sluice.claim-check', 'trace']);
    const next = forwardHeaders(headers, { topic: 't', partition: 0, offset: 1, timestampMs: 2 }, 3, 'a string was thrown', { deadLetterReason: 'exhausted' });
    expect(next).toMatchObject({ trace: [Buffer.from('a'), Buffer.from('b')], 'sluice.claim-check': Buffer.from('{"key":"blob"}'), [RETRY_HEADERS.attempt]: '3', [RETRY_HEADERS.errorName]: 'string', [RETRY_HEADERS.errorMessage]: 'a string was thrown', [RETRY_HEADERS.deadLetterReason]: 'exhausted' });
    expect(next[RETRY_HEADERS.dueAt]).toBeUndefined();
  });

  it('cut an error message to 2048 characters, so a huge message cannot make the forward too large', () => {
    const next = forwardHeaders({}, { topic: 't', partition: 0, offset: 1, timestampMs: 2 }, 1, new Error('x'.repeat(100_000)), { dueAtMs: 1 });
    expect(String(next[RETRY_HEADERS.errorMessage])).toHaveLength(2049);
  });
});
