import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeaderKeyCache } from '../../../lib/codec/header-keys.ts';
import { decodeRecordBatch, encodeRecordBatch, type BatchRecord } from '../../../lib/codec/record-batch.ts';

describe('HeaderKeyCache', () => {
  it('returns the key that is there, not the one cached, when one byte differs or the length does', () => {
    const payload = Buffer.from('content-typecontent-typxcontent-typ');
    const cache = new HeaderKeyCache(payload);
    expect(cache.key(0, 12, 0)).toBe('content-type');
    expect(cache.key(12, 12, 0)).toBe('content-typx');
    expect(cache.key(24, 11, 0)).toBe('content-typ');
    expect(cache.key(0, 12, 0)).toBe('content-type');
  });

  it('decodes keys at positions past the cached ones, long keys and multi-byte UTF-8 exactly', () => {
    const long = 'k'.repeat(100);
    const payload = Buffer.from(`${long}${long}ключ`);
    const cache = new HeaderKeyCache(payload);
    expect(cache.key(0, 100, 0)).toBe(long);
    expect(cache.key(100, 100, 0)).toBe(long);
    expect(cache.key(200, 8, 9)).toBe('ключ');
    expect(cache.key(200, 8, 9)).toBe('ключ');
  });
});

describe('decodeRecordBatch header keys', () => {
  it('reads back every record’s header keys when consecutive records repeat, vary or reorder them', async () => {
    const headerKey = fc.constantFrom('content-type', 'content-typf', 'trace', 'tracf', '', 'é', 'x'.repeat(70));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(headerKey, { maxLength: 10 }), { minLength: 1, maxLength: 30 }), async (keysPerRecord) => {
        const records: BatchRecord[] = keysPerRecord.map((keys, i) => ({
          key: null,
          value: Buffer.from(`v${i}`),
          headers: keys.map((key, h) => ({ key, value: Buffer.from(`${i}.${h}`) })),
          timestamp: 1_700_000_000_000,
        }));
        const { records: decoded } = await decodeRecordBatch(await encodeRecordBatch(records));
        expect(decoded.map((r) => r.headers.map((h) => h.key))).toEqual(keysPerRecord);
        expect(decoded.map((r) => r.headers.map((h) => String(h.value)))).toEqual(keysPerRecord.map((keys, i) => keys.map((_, h) => `${i}.${h}`)));
      }),
      { numRuns: 200 },
    );
  });
});
